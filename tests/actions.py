"""Action sources that several test modules deploy."""

# Creates an issue with one provider call and one log line; the title "locked" ends in an
# ActionError.
CREATE_ISSUE = """
from nango import ActionError, create_action

def run(nango, input):
    if input["title"] == "locked":
        raise ActionError({"message": "the repository is locked"})
    nango.log("creating issue")
    r = nango.post(f"/repos/{input['repo']}/issues", data={"title": input["title"]})
    return {"id": r.data["id"], "url": r.data["html_url"]}

action = create_action(
    description="Create an issue",
    version="1.0.0",
    input={"type": "object", "properties": {"repo": {"type": "string"},
           "title": {"type": "string", "minLength": 1}},
           "required": ["repo", "title"], "additionalProperties": False},
    output={"type": "object", "properties": {"id": {"type": "integer"},
            "url": {"type": "string"}}, "required": ["id", "url"]},
    exec=run,
)
"""
