from nango import create_action

from ..lib.repos import REPO_INPUT, repo_path


def run(nango, input):
    issue = {k: input[k] for k in ("title", "body", "labels") if k in input}
    r = nango.post(f"{repo_path(input)}/issues", data=issue)
    return {"id": r.data["id"], "number": r.data["number"], "url": r.data["html_url"]}


action = create_action(
    description="Open an issue in a GitHub repository",
    version="1.0.0",
    input={
        "type": "object",
        "properties": {
            **REPO_INPUT,
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
