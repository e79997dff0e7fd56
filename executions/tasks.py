"""Running executions. Sync triggers call these directly; django-q2 calls them for async."""

import logging

from executions.errors import Failure
from executions.models import Execution
from executions.runner import run_version
from integrations.models import Connection, FunctionVersion

log = logging.getLogger(__name__)


def run_sync(execution: Execution, version: FunctionVersion, connection: Connection) -> None:
    """Run a sync execution to its end; the row ends terminal whatever happens here."""
    try:
        outcome = run_version(version, connection, execution.input)
    except Exception:
        log.exception("execution %s: the runner failed", execution.code)
        execution.finish(
            failure=Failure("internal_server_error", 500, "The platform failed to run the action")
        )
        return
    execution.finish(
        outcome.output,
        outcome.failure,
        outcome.recorder.logs,
        outcome.recorder.calls,
        outcome.duration_ms,
    )
