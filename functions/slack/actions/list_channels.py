from nango import ActionError, create_action


async def run(nango, input):
    wanted = input.get("max_results", 1000)
    params = {
        "types": ",".join(input.get("types", ["public_channel"])),
        "exclude_archived": "true",
        "limit": 200,
    }
    channels = []
    # Paged by hand rather than with nango.paginate: Slack reports errors as
    # {"ok": false} in a 200 answer, which only the raw response shows.
    while len(channels) < wanted:
        r = await nango.get("/conversations.list", params=params)
        if not r.data.get("ok"):
            error = r.data.get("error", "unknown_error")
            raise ActionError({"message": f"Slack refused: {error}", "slack_error": error})
        channels += [
            {
                "id": c["id"],
                "name": c["name"],
                "is_private": c.get("is_private", False),
                "num_members": c.get("num_members", 0),
            }
            for c in r.data["channels"]
        ]
        # Slack marks the last page with an empty cursor, not a missing one.
        cursor = r.data.get("response_metadata", {}).get("next_cursor")
        if not cursor:
            break
        params["cursor"] = cursor
    return {"channels": channels[:wanted]}


action = create_action(
    description="List the workspace's channels the connection can see",
    version="1.0.0",
    input={
        "type": "object",
        "properties": {
            "types": {
                "type": "array",
                "items": {"enum": ["public_channel", "private_channel"]},
                "minItems": 1,
                "uniqueItems": True,
            },
            "max_results": {"type": "integer", "minimum": 1, "maximum": 10000},
        },
        "additionalProperties": False,
    },
    output={
        "type": "object",
        "properties": {
            "channels": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "name": {"type": "string"},
                        "is_private": {"type": "boolean"},
                        "num_members": {"type": "integer", "minimum": 0},
                    },
                    "required": ["id", "name", "is_private", "num_members"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["channels"],
        "additionalProperties": False,
    },
    exec=run,
)
