"""What the end of an attempt tells the people and machines watching the platform: one
structured log line (logger `executions.runs`) and the run metrics.

Called once per written end (`executions.tasks.record`, and `Execution.cancel` for a run
cancelled before it started). With the line's level off (LOG_LEVEL) and metrics off it
costs two checks. Fields are ids, names, codes and numbers: never input, output,
credentials or an error's message (which may quote the provider).
"""

import logging

from executions.models import Execution, Outcome, Status
from nangosite.lib import metrics
from nangosite.lib.logs import event

log = logging.getLogger("executions.runs")


def ended(execution: Execution, outcome: str = "") -> None:
    """After an attempt's end was written: the run ended (succeeded, failed, cancelled) or
    goes back to the queue for a retry. `outcome` is the attempt's, read from its entry in
    `attempt_log` unless given (a run cancelled while queued has no attempt to read)."""
    calm = execution.status in (Status.SUCCEEDED, Status.CANCELLED)
    level = logging.INFO if calm else logging.WARNING
    logging_on, counting = log.isEnabledFor(level), metrics.enabled()
    if not (logging_on or counting):
        return
    entry = {} if outcome or not execution.attempt_log else execution.attempt_log[-1]
    outcome = outcome or entry.get("outcome", "")
    environment = execution.environment_name
    labels = (environment, execution.provider_config_key, execution.action_name)
    if counting:
        found = metrics.get()
        if execution.is_terminal:
            found.runs.labels(*labels, execution.status).inc()
            if execution.duration_ms is not None:
                found.run_seconds.labels(*labels).observe(execution.duration_ms / 1000)
        else:
            found.retries.labels(*labels).inc()
        if outcome == Outcome.TIMEOUT:
            found.timeouts.labels(*labels).inc()
    if logging_on:
        event(
            log,
            "run ended" if execution.is_terminal else "attempt failed, retrying",
            level,
            execution_id=str(execution.code),
            environment=environment,
            integration=execution.provider_config_key,
            action=execution.action_name,
            connection=execution.connection_id,
            mode="async" if execution.is_async else "sync",
            attempt=execution.attempts,
            outcome=outcome,
            status=execution.status,
            duration_ms=entry.get("duration_ms"),
            error_code=(entry.get("error") or (execution.error or {}).get("error") or {}).get(
                "code"
            ),
            http_status=execution.http_status if execution.is_terminal else None,
        )
