from nango import ActionError, create_action

MUTATION = """
mutation IssueCreate($input: IssueCreateInput!) {
  issueCreate(input: $input) {
    success
    issue { id identifier title url }
  }
}
"""


def run(nango, input):
    r = nango.post("/graphql", data={"query": MUTATION, "variables": {"input": input}})
    # GraphQL reports most failures in a 200 answer's "errors" list.
    if r.data.get("errors"):
        messages = [e.get("message", "") for e in r.data["errors"]]
        raise ActionError({"message": "; ".join(messages), "errors": r.data["errors"]})
    result = r.data["data"]["issueCreate"]
    if not result["success"]:
        raise ActionError({"message": "Linear did not create the issue"})
    issue = result["issue"]
    return {
        "id": issue["id"],
        "identifier": issue["identifier"],
        "title": issue["title"],
        "url": issue["url"],
    }


action = create_action(
    description="Create an issue in a Linear team",
    version="1.0.0",
    input={
        "type": "object",
        # Named as in Linear's IssueCreateInput, so the input is passed through as is.
        "properties": {
            "teamId": {"type": "string", "format": "uuid"},
            "title": {"type": "string", "minLength": 1},
            "description": {"type": "string"},
            # 0 = none, 1 = urgent, 2 = high, 3 = medium, 4 = low.
            "priority": {"type": "integer", "minimum": 0, "maximum": 4},
        },
        "required": ["teamId", "title"],
        "additionalProperties": False,
    },
    output={
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "identifier": {"type": "string"},
            "title": {"type": "string"},
            "url": {"type": "string", "format": "uri"},
        },
        "required": ["id", "identifier", "title", "url"],
        "additionalProperties": False,
    },
    exec=run,
)
