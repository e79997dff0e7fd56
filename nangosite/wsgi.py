"""The WSGI application: Django, behind `ChunkedBodies`."""

import io
import json
import os
from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nangosite.settings")


def _refusal(status: str, code: str, message: str) -> tuple[str, list, list[bytes]]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    return status, headers, [body]


class ChunkedBodies:
    """WSGI middleware: a request body sent without Content-Length (`Transfer-Encoding:
    chunked`) is read here, up to MAX_REQUEST_BYTES, and handed on with its length, or
    refused: 413 past the limit, 411 when the server does not mark where it ends.

    Django reads CONTENT_LENGTH bytes of a body and nothing when it is missing, so such a
    body would otherwise reach every view as empty. gunicorn de-chunks it and sets
    `wsgi.input_terminated` (the input then ends where the body ends); a server that does
    not (Django's runserver) passes the raw chunks, which only a 411 answers rightly.
    """

    def __init__(self, app: Callable) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if "HTTP_TRANSFER_ENCODING" in environ and not environ.get("CONTENT_LENGTH"):
            refused = self.read_body(environ)
            if refused is not None:
                status, headers, body = refused
                start_response(status, headers)
                return body
        return self.app(environ, start_response)

    @staticmethod
    def read_body(environ: dict) -> tuple | None:
        if not environ.get("wsgi.input_terminated"):
            return _refusal(
                "411 Length Required",
                "length_required",
                "Send the body with a Content-Length header.",
            )
        limit = settings.MAX_REQUEST_BYTES
        body = environ["wsgi.input"].read(limit + 1)
        if len(body) > limit:
            return _refusal(
                "413 Request Entity Too Large",
                "payload_too_large",
                f"The request body is larger than {limit} bytes.",
            )
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        del environ["HTTP_TRANSFER_ENCODING"]  # what follows sees a plain, sized body
        return None


application = ChunkedBodies(get_wsgi_application())
