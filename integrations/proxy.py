"""The requests proxy: `/proxy/<path>` forwards a call to a connection's provider with the
connection's credentials injected, and streams the provider's answer back as it comes.

Headers, as Nango's `/proxy`: `Connection-Id` and `Provider-Config-Key` name the connection;
`Nango-Proxy-<Name>` headers go to the provider as `<Name>`; `Retries` (0-10) and `Retry-On`
(comma-separated statuses) retry what the wrapper in `nangosite/lib/http.py` retries
(network errors, 429, 5xx or the provider's own list, honouring Retry-After and the
provider's rate-limit headers); `Base-Url-Override` replaces the provider's base URL;
`Decompress: true` decodes a compressed answer. The provider's status, headers (minus
hop-by-hop ones) and body come back unchanged, whatever the status.
"""

import re
import time
from collections.abc import Iterator

import requests
from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.utils.encoding import escape_uri_path
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from integrations.models import CONNECTION_ID_PATTERN, KEY_PATTERN, Connection
from nangosite.api import ApiError, invalid
from nangosite.lib import http, metrics
from nangosite.lib.headers import Header, parse_headers

CHUNK_BYTES = 64 * 1024
FORWARD_PREFIX = "HTTP_NANGO_PROXY_"

# RFC 9110 §7.6.1: meaningful for one hop only, never forwarded by a proxy.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Set by the HTTP client for the request it sends, not something a caller chooses.
NOT_FORWARDED_REQUEST = HOP_BY_HOP | {"host", "content-length"}
# The web server writes its own Date and Server; the provider's cookies are for the
# platform's session with it, not for our callers (and would land on our domain).
NOT_FORWARDED_RESPONSE = HOP_BY_HOP | {"date", "server", "set-cookie"}


HEADERS = (
    Header("connection_id", required=True, pattern=re.compile(CONNECTION_ID_PATTERN)),
    Header("provider_config_key", required=True, pattern=re.compile(KEY_PATTERN)),
    Header("retries", kind="int", maximum=10, default=0),
    Header("retry_on", pattern=re.compile(r"^\d{3}(,\d{3})*$"), default=""),
    # The Node client always sends it, empty when not set.
    Header("base_url_override", kind="url", max_length=2048, default=""),
    Header("decompress", kind="choice", choices=("true", "false"), default="false"),
)


def forwarded_headers(meta: dict) -> dict[str, str]:
    """`Nango-Proxy-X-Thing: v` as `X-Thing: v` (WSGI keeps no case; HTTP needs none)."""
    found = {}
    for key, value in meta.items():
        if key.startswith(FORWARD_PREFIX) and len(key) > len(FORWARD_PREFIX):
            name = key[len(FORWARD_PREFIX) :].replace("_", "-").title()
            if name.lower() not in NOT_FORWARDED_REQUEST:
                found[name] = value
    return found


def request_headers(meta: dict, has_body: bool, decode: bool) -> dict[str, str]:
    """What of the caller's request goes to the provider, besides the body."""
    headers = {}
    if meta.get("CONTENT_TYPE") and has_body:
        headers["Content-Type"] = meta["CONTENT_TYPE"]
    # The answer's body goes back as the provider encoded it, so the caller's own
    # Accept-Encoding decides; without one, ask for none.
    encodings = "gzip, deflate" if decode else meta.get("HTTP_ACCEPT_ENCODING")
    headers["Accept-Encoding"] = encodings or "identity"
    return {**headers, **forwarded_headers(meta)}


def send(
    connection: Connection,
    method: str,
    endpoint: str,
    query: str = "",
    headers: dict | None = None,
    body: bytes = b"",
    retries: int = 0,
    retry_on: str = "",
    base_url_override: str = "",
) -> requests.Response:
    """Send one request to the connection's provider with its credentials; the answer is
    streamed (not read yet), whatever its status. Raises ApiError when there is none."""
    try:
        return connection.call(
            method,
            "/" + escape_uri_path(endpoint).lstrip("/"),
            params=query,
            data=body or None,
            headers=headers,
            retries=retries,
            retry_on=(int(s) for s in retry_on.split(",") if s),
            base_url_override=base_url_override,
            deadline=time.monotonic() + settings.PROXY_TIMEOUT_SECONDS,
            stream=True,
            user_agent="nangosite-proxy",
        )
    except http.HttpError as exc:
        if exc.response is not None:
            return exc.response  # the provider said no: the caller gets its answer as it is
        # No answer at all. Name only the kind of failure: the URL may hold a credential.
        cause = exc.__cause__
        if isinstance(exc, http.DeadlineExceeded) or isinstance(cause, requests.Timeout):
            raise ApiError(504, "proxy_timeout", "The provider did not answer in time.") from None
        kind = type(cause).__name__ if cause is not None else "error"
        raise ApiError(
            502, "proxy_network_error", f"The provider could not be reached ({kind})."
        ) from None


def _body(upstream: requests.Response, decode: bool) -> Iterator[bytes]:
    try:
        yield from upstream.raw.stream(CHUNK_BYTES, decode_content=decode)
    finally:
        upstream.close()


def streamed(upstream: requests.Response, decode: bool, head: bool) -> HttpResponse:
    """The provider's answer as ours, its body passed through chunk by chunk."""
    if head:
        upstream.close()
        response = HttpResponse(status=upstream.status_code)
    else:
        response = StreamingHttpResponse(_body(upstream, decode), status=upstream.status_code)
    del response["Content-Type"]  # Django's default; the provider's, if any, is copied below
    response.reason_phrase = upstream.reason or None
    connection_tokens = {
        t.strip().lower() for t in upstream.headers.get("Connection", "").split(",") if t.strip()
    }
    skip = NOT_FORWARDED_RESPONSE | connection_tokens
    if decode:
        # The body goes out decoded: its encoding and length no longer apply.
        skip = skip | {"content-encoding", "content-length"}
    for name, value in upstream.headers.items():
        if name.lower() not in skip:
            response[name] = value
    return response


class ProxyView(APIView):
    """Any method on `/proxy/<path>`: authenticated with the environment's secret key."""

    def perform_content_negotiation(self, request, force=False):
        # The answer is the provider's, whatever the caller accepts; our errors are JSON.
        return (JSONRenderer(), JSONRenderer.media_type)

    @property
    def default_response_headers(self) -> dict:
        return {}  # no `Allow` over the provider's headers

    def forward(self, request, path: str) -> HttpResponse:
        given, problems = parse_headers(request.META, HEADERS)
        if problems:
            raise invalid("invalid_headers", problems)
        connection = Connection.objects.resolve(
            request.auth, given["provider_config_key"], given["connection_id"]
        )
        # Bounded by DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BYTES: past it, 413.
        body = request.body
        decode = given["decompress"] == "true"
        counted = (request.auth.name, given["provider_config_key"])
        try:
            upstream = send(
                connection,
                request.method,
                path,
                query=request.META.get("QUERY_STRING", ""),
                headers=request_headers(request.META, bool(body), decode),
                body=body,
                retries=given["retries"],
                retry_on=given["retry_on"],
                base_url_override=given["base_url_override"],
            )
        except ApiError as exc:  # no answer from the provider: 502 or 504
            metrics.count_proxy(*counted, exc.status_code)
            raise
        metrics.count_proxy(*counted, upstream.status_code)
        return streamed(upstream, decode, head=request.method == "HEAD")

    get = post = put = patch = delete = head = options = forward


proxy = ProxyView.as_view()
