"""The web server's configuration, in one place: gunicorn reads this module as its config
(`gunicorn -c python:nangosite.webserver nangosite.wsgi`), and so do `manage.py serve`, the
README's production command and the tests' `gunicorn_command`. Command-line options
(bind, workers, threads) go on top of it.

gunicorn refuses some requests itself, before Django sees them: a request line (method,
path and query) over `limit_request_line` is 414, more than `limit_request_fields` headers
or one over `limit_request_field_size` is 431, a malformed request line or header is 400,
an unsupported transfer coding 501. It writes those answers as HTML pages; here they are
written in the API's error shape, `{"error": {"code", "message"}}`, like every other
answer. (gunicorn has no setting for its error page, so its writer is replaced.)
"""

import json

from gunicorn import util

worker_class = "gthread"
# The longest request line gunicorn takes short of no limit at all (its default is 4094):
# URLs carry connection ids, search terms and tag filters.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# The error codes of the answers gunicorn gives itself, by status.
SERVER_ERROR_CODES = {
    400: "invalid_request",
    403: "forbidden",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "request_header_fields_too_large",
    500: "internal_server_error",
    501: "not_implemented",
}


def error_answer(status: int, reason: str, message: str) -> bytes:
    """The whole HTTP answer gunicorn sends for a request it refused."""
    code = SERVER_ERROR_CODES.get(status, "invalid_request")
    body = json.dumps({"error": {"code": code, "message": (message or reason)[:500]}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def write_error(sock, status_int: int, reason: str, mesg: str) -> None:
    util.write_nonblock(sock, error_answer(status_int, reason, mesg))


# Loaded by gunicorn's master before it forks: its workers write with this one.
util.write_error = write_error
