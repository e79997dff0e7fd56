"""The OpenAPI paths of the function developer's workflow: deploy and dry-run a posted
function tree, an action's versions, rollback and unpin (what the `nango` CLI calls)."""

from nango.tree import PATH_PATTERN
from nangosite.openapi_components import NO_NUL, NOT_BLANK, text

ANY: dict = {}
STRING = {"type": "string"}
BOOLEAN = {"type": "boolean"}
NAME = text(255, 1, NOT_BLANK)

FILES = {
    "type": "object",
    "description": (
        "Tree path to source: `functions/<integration>/actions/<name>.py` (one action), "
        "`functions/<integration>/lib/….py` and `functions/lib/….py` (helper modules)"
    ),
    "propertyNames": {"pattern": PATH_PATTERN, "maxLength": 512},
    "additionalProperties": {"type": "string", "pattern": NO_NUL},
    "minProperties": 1,
}
ENVIRONMENT = {
    **text(64),
    "description": "Refuse (400) unless the secret key is this environment's",
}
CHANGE = {
    "type": "object",
    "required": ["integration", "name", "outcome"],
    "properties": {
        "integration": STRING,
        "name": STRING,
        "outcome": {
            "type": "string",
            "enum": [
                "created",
                "updated",
                "unchanged",
                "restored",
                "pinned",
                "not_in_tree",
                "disabled",
            ],
        },
        "version": STRING,
        "number": {"type": ["integer", "null"]},
        "modules": {"type": "array", "items": STRING},
    },
}
DEPLOY_REPORT = {
    "type": "object",
    "required": ["environment", "dry_run", "changes", "summary"],
    "properties": {
        "environment": STRING,
        "dry_run": BOOLEAN,
        "changes": {"type": "array", "items": CHANGE},
        "summary": {"type": "object", "additionalProperties": {"type": "integer"}},
    },
}
HISTORY = {
    "type": "object",
    "required": ["integration", "name", "enabled", "pinned", "versions"],
    "properties": {
        "integration": STRING,
        "name": STRING,
        "enabled": BOOLEAN,
        "pinned": BOOLEAN,
        "versions": {
            "type": "array",
            "description": "Newest first",
            "items": {
                "type": "object",
                "properties": {
                    "number": {"type": "integer"},
                    "version": STRING,
                    "live": BOOLEAN,
                    "description": STRING,
                    "checksum": STRING,
                    "modules": {"type": "array", "items": STRING},
                    "deployed_at": STRING,
                    "deployed_via": {"type": "string", "enum": ["command", "cli", "api"]},
                    "deployed_by": STRING,
                    "commit": STRING,
                    "live_since": {"type": ["string", "null"]},
                    "made_live_via": STRING,
                    "made_live_by": STRING,
                },
            },
        },
    },
}
DRY_RUN = {
    "type": "object",
    "properties": {
        "integration": STRING,
        "action": STRING,
        "connection_id": STRING,
        "ok": BOOLEAN,
        "status": {"type": "integer", "description": "What a trigger would have answered"},
        "output": ANY,
        "error": ANY,
        "logs": {"type": "array"},
        "provider_calls": {"type": "array"},
        "warnings": {"type": "array", "items": STRING},
        "duration_ms": {"type": "number"},
        "fixture": {"type": ["object", "null"], "description": "With `save`: the recording"},
        "fixture_path": STRING,
    },
}


def function_paths() -> dict:
    # openapi.py imports this module: its helpers are taken when the document is built.
    from nangosite.openapi import _path_param, op

    key = _path_param("key", "The integration's unique key (Provider-Config-Key)")
    name = _path_param("name", "The action's name")
    rollback = op(
        "Make an earlier version live (and pin it)",
        "functions",
        params=[key, name],
        body={
            "type": "object",
            "properties": {
                "version": {
                    "anyOf": [
                        text(64, 1, NOT_BLANK),
                        {"type": "integer", "minimum": 0, "maximum": 2**53},
                        {"type": "null"},
                    ],
                    "description": "A number, a declared version, or none: the version "
                    "before the live one",
                },
                "pin": {**BOOLEAN, "description": "Default true: deploys leave it alone"},
                "by": text(255),
            },
        },
        ok=HISTORY,
        errors=("400", "404", "409"),
    )
    rollback["requestBody"]["required"] = False
    history = op(
        "An action's versions, which one is live and who deployed each",
        "functions",
        params=[key, name],
        ok=HISTORY,
        errors=("404",),
    )
    return {
        "/functions/deploy": {
            "post": op(
                "Deploy a function tree, all or nothing",
                "functions",
                body={
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": FILES,
                        "integration": {**text(), "description": "Only this integration"},
                        "action": {**text(), "description": "Only this action"},
                        "prune": {**BOOLEAN, "description": "Disable functions gone from it"},
                        "dry_run": {**BOOLEAN, "description": "Check and list; store nothing"},
                        "commit": text(64),
                        "deployed_by": text(255),
                        "environment": ENVIRONMENT,
                    },
                },
                ok=DEPLOY_REPORT,
                description=(
                    "Checks every action of the scope as `manage.py deploy` does and stores "
                    "each changed one as a new version with the helpers it imports. Refused "
                    "(400 `invalid_functions`, `errors` naming each file and line), nothing "
                    "is deployed."
                ),
            )
        },
        "/functions/dryrun": {
            "post": op(
                "Run an action of a posted tree against a connection, storing nothing",
                "functions",
                body={
                    "type": "object",
                    "required": ["files", "action", "connection_id"],
                    "properties": {
                        "files": FILES,
                        "action": NAME,
                        "connection_id": NAME,
                        "integration": text(),
                        "input": ANY,
                        "validation": BOOLEAN,
                        "save": {**BOOLEAN, "description": "Answer the fixture tests replay"},
                        "environment": ENVIRONMENT,
                    },
                },
                ok=DRY_RUN,
                errors=("400", "404"),
                description=(
                    "The action runs on the server with the connection's credentials, which "
                    "never leave it; the action failing is a 200 with `ok: false`."
                ),
            )
        },
        "/integrations/{key}/functions/{name}/versions": {"get": history},
        "/integrations/{key}/functions/{name}/rollback": {"post": rollback},
        "/integrations/{key}/functions/{name}/unpin": {
            "post": op(
                "Let deploys replace the live version again",
                "functions",
                params=[key, name],
                ok=HISTORY,
                errors=("404",),
            )
        },
    }
