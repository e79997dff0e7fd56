from nango import create_action

from ..lib.repos import REPO_INPUT, repo_path

MAX_PAGE_SIZE = 100


def run(nango, input):
    wanted = input.get("max_results", 100)
    issues = []
    pages = nango.paginate(
        f"{repo_path(input)}/issues",
        paginate={"limit": min(wanted, MAX_PAGE_SIZE)},
        params={"state": input.get("state", "open")},
    )
    for page in pages:
        for item in page:
            # The issues endpoint also returns pull requests; they carry this key.
            if "pull_request" in item:
                continue
            issues.append(
                {
                    "id": item["id"],
                    "number": item["number"],
                    "title": item["title"],
                    "state": item["state"],
                    "url": item["html_url"],
                }
            )
        # Stopping here leaves the remaining pages unfetched.
        if len(issues) >= wanted:
            break
    return {"issues": issues[:wanted]}


action = create_action(
    description="List a repository's issues (pull requests left out), newest first",
    version="1.0.0",
    input={
        "type": "object",
        "properties": {
            **REPO_INPUT,
            "state": {"enum": ["open", "closed", "all"]},
            "max_results": {"type": "integer", "minimum": 1, "maximum": 1000},
        },
        "required": ["owner", "repo"],
        "additionalProperties": False,
    },
    output={
        "type": "object",
        "properties": {
            "issues": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "number": {"type": "integer"},
                        "title": {"type": "string"},
                        "state": {"enum": ["open", "closed"]},
                        "url": {"type": "string", "format": "uri"},
                    },
                    "required": ["id", "number", "title", "state", "url"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["issues"],
        "additionalProperties": False,
    },
    exec=run,
)
