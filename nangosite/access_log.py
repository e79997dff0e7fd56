"""gunicorn's request log, written through the platform's logging (text or JSON, as
LOG_FORMAT says) with the execution id of the answer (`X-Execution-Id`).

`manage.py serve` starts gunicorn with `--logger-class nangosite.access_log.RequestLogger
--access-logfile -`; gunicorn calls `access` once per request only while an access log is
configured. The query string is left out: a caller may put a secret in one (`/proxy`
passes queries on to the provider).
"""

import logging

from gunicorn.glogging import Logger

from nangosite.lib.logs import event

log = logging.getLogger("nangosite.requests")


class RequestLogger(Logger):
    def access(self, resp, req, environ, request_time) -> None:
        if not self.access_log_enabled:
            return
        execution = next((v for k, v in resp.headers if k.lower() == "x-execution-id"), None)
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        event(
            log,
            f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')} {status}",
            method=environ.get("REQUEST_METHOD"),
            path=environ.get("PATH_INFO"),
            status=int(status),
            duration_ms=round(request_time.total_seconds() * 1000, 2),
            bytes=getattr(resp, "sent", None),
            remote=environ.get("REMOTE_ADDR"),
            execution_id=execution,
        )
