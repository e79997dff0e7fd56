"""Path and query parameters held to the storable rule (`nangosite/lib/storable.py`)
before any view uses them.

Headers are checked by `nangosite/lib/headers.py` and JSON bodies by the API's parser
(`nangosite/api.py`), with the same rule; chunked bodies are read by
`nangosite.wsgi.ChunkedBodies`.
"""

from collections.abc import Callable

from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from nangosite.api import BAD_REQUEST, raw_json
from nangosite.lib import storable


class StorablePathAndQuery:
    """Django middleware: a path parameter or a query parameter (name or value) that cannot
    be stored (a NUL, `%00`) is refused with 400 before the view queries with it (PostgreSQL
    refuses NUL in text, so the query itself would fail). Path parameters are named as the
    URL pattern names them, in `invalid_uri_params`; query parameters in
    `invalid_query_params`. The admin answers its own plain 400.
    """

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request, view, args, kwargs) -> HttpResponse | None:
        found = [
            storable.problem(code, [name])
            for name, value in kwargs.items()
            if isinstance(value, str) and (code := storable.text_problem(value))
        ]
        kind = "invalid_uri_params"
        # Query text is decoded with replacement characters: only a NUL can be left.
        query = request.META.get("QUERY_STRING", "")
        if not found and ("%00" in query or "\x00" in query):
            kind = "invalid_query_params"
            try:
                params = request.GET.lists()
            except SuspiciousOperation:  # more fields than Django reads
                return raw_json(BAD_REQUEST, 400)
            found = [
                storable.problem(code, [name])
                for name, values in params
                for text in (name, *values)
                if (code := storable.text_problem(text))
            ]
        if not found:
            return None
        if request.resolver_match.namespace == "admin":
            return HttpResponseBadRequest("Bad request: NUL characters are not accepted.")
        what = "path" if kind == "invalid_uri_params" else "query"
        message = f"The request {what} holds text that cannot be stored."
        return raw_json({"error": {"code": kind, "message": message, "errors": found}}, 400)
