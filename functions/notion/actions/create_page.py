from nango import create_action


def run(nango, input):
    # The title column is named per database; "Name" is what Notion creates by default.
    title_property = input.get("title_property", "Name")
    page = {
        "parent": {"database_id": input["database_id"]},
        "properties": {title_property: {"title": [{"text": {"content": input["title"]}}]}},
    }
    if "content" in input:
        page["children"] = [
            {
                "object": "block",
                "type": "paragraph",
                "paragraph": {
                    "rich_text": [{"type": "text", "text": {"content": input["content"]}}]
                },
            }
        ]
    r = nango.post("/v1/pages", data=page)
    return {"id": r.data["id"], "url": r.data["url"]}


action = create_action(
    description="Create a page in a Notion database",
    version="1.0.0",
    input={
        "type": "object",
        "properties": {
            # Notion accepts ids with or without dashes.
            "database_id": {
                "type": "string",
                "pattern": "^[0-9a-fA-F]{8}(-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}$",
            },
            # Notion caps a rich text object's content at 2,000 characters.
            "title": {"type": "string", "minLength": 1, "maxLength": 2000},
            "title_property": {"type": "string", "minLength": 1},
            "content": {"type": "string", "minLength": 1, "maxLength": 2000},
        },
        "required": ["database_id", "title"],
        "additionalProperties": False,
    },
    output={
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "url": {"type": "string", "format": "uri"},
        },
        "required": ["id", "url"],
        "additionalProperties": False,
    },
    exec=run,
)
