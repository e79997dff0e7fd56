"""What the github actions share: the repository part of their input, and its API path.

Deploy versions this module with every action that imports it: a change here is a new
version of each of them.
"""

# Patterns keep user input from reaching other API paths through "/" or "..".
REPO_INPUT = {
    "owner": {"type": "string", "pattern": "^[A-Za-z0-9-]{1,39}$"},
    "repo": {"type": "string", "pattern": "^(?!\\.{1,2}$)[A-Za-z0-9._-]{1,100}$"},
}


def repo_path(input: dict) -> str:
    return f"/repos/{input['owner']}/{input['repo']}"
