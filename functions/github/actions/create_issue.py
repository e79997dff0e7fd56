from nango import create_action


def run(nango, input):
    issue = {k: input[k] for k in ("title", "body", "labels") if k in input}
    r = nango.post(f"/repos/{input['owner']}/{input['repo']}/issues", data=issue)
    return {"id": r.data["id"], "number": r.data["number"], "url": r.data["html_url"]}


action = create_action(
    description="Open an issue in a GitHub repository",
    version="1.0.0",
    input={
        "type": "object",
        "properties": {
            # Patterns keep user input from reaching other API paths through "/" or "..".
            "owner": {"type": "string", "pattern": "^[A-Za-z0-9-]{1,39}$"},
            "repo": {"type": "string", "pattern": "^(?!\\.{1,2}$)[A-Za-z0-9._-]{1,100}$"},
            "title": {"type": "string", "minLength": 1, "maxLength": 256},
            "body": {"type": "string"},
            "labels": {"type": "array", "items": {"type": "string", "minLength": 1}},
        },
        "required": ["owner", "repo", "title"],
        "additionalProperties": False,
    },
    output={
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "number": {"type": "integer", "minimum": 1},
            "url": {"type": "string", "format": "uri"},
        },
        "required": ["id", "number", "url"],
        "additionalProperties": False,
    },
    exec=run,
)
