from nango import ActionError, create_action


def run(nango, input):
    message = {"channel": input["channel"], "text": input["text"]}
    if "thread_ts" in input:
        message["thread_ts"] = input["thread_ts"]
    r = nango.post("/chat.postMessage", data=message)
    # Slack answers 200 even when it refuses; the verdict is in the body.
    if not r.data.get("ok"):
        error = r.data.get("error", "unknown_error")
        raise ActionError({"message": f"Slack refused the message: {error}", "slack_error": error})
    return {"channel": r.data["channel"], "ts": r.data["ts"]}


action = create_action(
    description="Post a message to a Slack channel, optionally as a thread reply",
    version="1.0.0",
    input={
        "type": "object",
        "properties": {
            "channel": {"type": "string", "minLength": 1},
            # Slack truncates messages longer than 40,000 characters.
            "text": {"type": "string", "minLength": 1, "maxLength": 40000},
            "thread_ts": {"type": "string", "pattern": "^[0-9]+\\.[0-9]+$"},
        },
        "required": ["channel", "text"],
        "additionalProperties": False,
    },
    output={
        "type": "object",
        "properties": {
            "channel": {"type": "string"},
            "ts": {"type": "string"},
        },
        "required": ["channel", "ts"],
        "additionalProperties": False,
    },
    exec=run,
)
