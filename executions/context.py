"""The `nango` object an action's `exec(nango, input)` receives."""

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus, urlsplit

import requests
from django.conf import settings
from django.db import transaction
from django.utils.timezone import now

from integrations.credentials import RefreshError, fresh_credentials
from integrations.models import Connection
from integrations.providers import TemplateError
from nango.errors import ActionError, HttpError, NetworkError
from nango.response import Response, ready
from nangosite.lib import http

LEVELS = ("debug", "info", "warn", "error")
MAX_LOG_LINES = 1000
MAX_LOG_CHARS = 99_000
REDACTED = "[REDACTED]"


class ActionTimeout(BaseException):
    """Raised inside a run that passed its deadline.

    A BaseException so that a function's own `except Exception` cannot swallow it.
    """


class ActionCancelled(BaseException):
    """Raised inside a run that was cancelled (POST /executions/<id>/cancel)."""


@dataclass
class Recorder:
    """What a run leaves behind: its log lines and every provider call."""

    logs: list = field(default_factory=list)
    calls: list = field(default_factory=list)
    # Secret values to scrub from anything recorded.
    secrets: set = field(default_factory=set)
    # `dryrun --save` keeps whole responses to replay them in tests.
    capture: bool = False
    captured: list = field(default_factory=list)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret and len(secret) >= 4:
                # URLs hold secrets percent-encoded and JSON text holds them escaped:
                # scrub those spellings too.
                escaped = json.dumps(secret)[1:-1]
                for form in {secret, quote(secret, safe=""), quote_plus(secret), escaped}:
                    text = text.replace(form, REDACTED)
        return text

    def redact_json(self, value: object) -> object:
        text = json.dumps(value)
        scrubbed = self.redact(text)
        return value if scrubbed == text else json.loads(scrubbed)

    def log(self, level: str, message: str) -> None:
        if len(self.logs) >= MAX_LOG_LINES:
            return
        if len(self.logs) == MAX_LOG_LINES - 1:
            level, message = "warn", f"log limit of {MAX_LOG_LINES} lines reached"
        self.logs.append(
            {
                "at": now().isoformat(),
                "level": level,
                "message": self.redact(message)[:MAX_LOG_CHARS],
            }
        )

    def call(self, attempt: http.Attempt) -> None:
        entry = {
            "method": attempt.method,
            "url": self.redact(attempt.url),
            "status": attempt.status,
            "duration_ms": round(attempt.duration_ms, 2),
            "attempt": attempt.attempt + 1,
        }
        if attempt.error:
            entry["error"] = attempt.error
        if attempt.wait_s:
            entry["retry_in_s"] = round(attempt.wait_s, 3)
        self.calls.append(entry)


def _secrets_of(credentials: dict) -> set:
    found = set()
    for key, value in credentials.items():
        if key in ("type", "expires_at") or not isinstance(value, str):
            continue
        found.add(value)
    return found


def dig(data: object, path: str) -> object:
    for part in [p for p in path.split(".") if p]:
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


class ActionContext:
    """Provider calls with the connection's credentials, metadata, logs.

    Every method works with or without `await`, so `exec` may be `def` or `async def`.
    """

    ActionError = ActionError

    def __init__(self, connection: Connection, recorder: Recorder, deadline: float | None):
        self._connection = connection
        self._recorder = recorder
        self._deadline = deadline
        self.connection_id = connection.connection_id
        self.provider_config_key = connection.integration.unique_key
        self.provider = connection.integration.provider
        recorder.secrets |= _secrets_of(connection.credentials)

    # --- provider calls -------------------------------------------------------------

    def _check_deadline(self) -> None:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            raise ActionTimeout()

    def _credentials(self) -> dict:
        try:
            credentials = fresh_credentials(self._connection)
        except RefreshError as exc:
            raise ActionError({"message": str(exc), "type": "refresh_failed"}) from None
        self._recorder.secrets |= _secrets_of(credentials)
        return credentials

    def proxy(
        self,
        endpoint: str = "",
        method: str = "GET",
        params: dict | str | None = None,
        data: object = None,
        headers: dict | None = None,
        retries: int = 0,
        retry_on: list[int] | None = None,
        base_url_override: str = "",
    ) -> Response:
        self._check_deadline()
        method = method.upper()
        credentials = self._credentials()
        try:
            base, auth_headers, auth_query = self._connection.provider_call_parts(
                credentials, base_url_override
            )
        except TemplateError as exc:
            raise ActionError({"message": f"connection is missing configuration: {exc}"}) from None
        if endpoint.startswith(base):
            endpoint = endpoint[len(base) :]
        if endpoint and not endpoint.startswith("/"):
            endpoint = "/" + endpoint
        url = base + endpoint
        if isinstance(params, str):
            url += ("&" if "?" in url else "?") + params.lstrip("?")
            params = None
        query = {**(params or {}), **auth_query}
        prepared = requests.models.PreparedRequest()
        prepared.prepare_url(url, query or None)

        request_headers = {"User-Agent": "nangosite-action"}
        request_headers.update(auth_headers)
        request_headers.update(headers or {})
        body_json = body_data = None
        if method in ("POST", "PUT", "PATCH", "DELETE") and data is not None:
            if isinstance(data, dict | list):
                body_json = data
            else:
                body_data = data
        policy = self._connection.retry_policy(retries, retry_on or ())
        try:
            raw = http.send(
                http.Request(
                    method,
                    prepared.url,
                    json=body_json,
                    data=body_data,
                    headers=request_headers,
                    timeout=settings.PROVIDER_TIMEOUT_SECONDS,
                ),
                policy,
                deadline=self._deadline,
                on_attempt=self._recorder.call,
            )
            response = Response.parse(raw.status_code, dict(raw.headers), raw.content)
        except http.DeadlineExceeded:
            raise ActionTimeout() from None
        except http.HttpError as exc:
            if exc.response is None:
                raise NetworkError(self._recorder.redact(str(exc))) from None
            raw = exc.response
            response = Response.parse(raw.status_code, dict(raw.headers), raw.content)
            self._capture(method, prepared.url, data, response)
            raise HttpError(
                f"{method} {self._recorder.redact(prepared.url)} answered {raw.status_code}",
                response,
            ) from None
        self._capture(method, prepared.url, data, response)
        return response

    def _capture(self, method: str, url: str, data: object, response: Response) -> None:
        if not self._recorder.capture:
            return
        redact = self._recorder.redact
        keep = {k: redact(v) for k, v in response.headers.items() if k in ("content-type", "link")}
        self._recorder.captured.append(
            {
                "method": method,
                "url": redact(url),
                "request_body": self._recorder.redact_json(data),
                "status": response.status,
                "headers": keep,
                "body": self._recorder.redact_json(response.data),
            }
        )

    def get(self, endpoint: str = "", **kwargs) -> Response:
        return self.proxy(endpoint, method="GET", **kwargs)

    def post(self, endpoint: str = "", **kwargs) -> Response:
        return self.proxy(endpoint, method="POST", **kwargs)

    def put(self, endpoint: str = "", **kwargs) -> Response:
        return self.proxy(endpoint, method="PUT", **kwargs)

    def patch(self, endpoint: str = "", **kwargs) -> Response:
        return self.proxy(endpoint, method="PATCH", **kwargs)

    def delete(self, endpoint: str = "", **kwargs) -> Response:
        return self.proxy(endpoint, method="DELETE", **kwargs)

    def paginate(self, endpoint: str = "", paginate: dict | None = None, **kwargs) -> "Pages":
        """Iterate pages (lists of records): `for page in nango.paginate(...)`."""
        preset = self._connection.provider.paginate
        config = {**(preset.as_dict() if preset else {}), **(paginate or {})}
        if config.get("type") not in ("cursor", "link", "offset"):
            raise ActionError(
                {"message": "paginate needs a type (cursor, link or offset) for this provider"}
            )
        return Pages(self, endpoint, config, kwargs)

    # --- connection, metadata, environment -------------------------------------------

    def get_connection(self) -> dict:
        self._credentials()
        return ready(self._connection.to_api(include_credentials=True))

    def get_token(self) -> object:
        credentials = self._credentials()
        if credentials.get("type") == "OAUTH2":
            return ready(credentials["access_token"])
        if credentials.get("type") == "BEARER":
            return ready(credentials["token"])
        return ready(dict(credentials))

    def get_metadata(self) -> dict:
        return ready(dict(self._connection.metadata or {}))

    def set_metadata(self, metadata: dict) -> dict:
        if not isinstance(metadata, dict):
            raise ActionError({"message": "metadata must be an object"})
        json.dumps(metadata)  # refuse what cannot be stored, here rather than in the DB
        Connection.objects.filter(pk=self._connection.pk).update(metadata=metadata, updated=now())
        self._connection.metadata = metadata
        return ready(dict(metadata))

    def update_metadata(self, metadata: dict) -> dict:
        if not isinstance(metadata, dict):
            raise ActionError({"message": "metadata must be an object"})
        with transaction.atomic():
            row = (
                Connection.objects.select_for_update().only("metadata").get(pk=self._connection.pk)
            )
            merged = {**(row.metadata or {}), **metadata}
            Connection.objects.filter(pk=row.pk).update(metadata=merged, updated=now())
        self._connection.metadata = merged
        return ready(dict(merged))

    def get_environment_variables(self) -> list:
        env = self._connection.integration.environment
        variables = [{"name": v.name, "value": v.value} for v in env.variables.order_by("name")]
        self._recorder.secrets |= {v["value"] for v in variables if isinstance(v["value"], str)}
        return ready(variables)

    def log(self, message: object, level: str = "info") -> None:
        level = level if level in LEVELS else "info"
        if not isinstance(message, str):
            try:
                message = json.dumps(message, default=str)
            except ValueError:
                message = repr(message)
        self._recorder.log(level, message)


class Pages:
    """Pages of a paginated endpoint; iterate with `for` or `async for`."""

    def __init__(self, nango: ActionContext, endpoint: str, config: dict, kwargs: dict):
        self.nango, self.endpoint, self.config, self.kwargs = nango, endpoint, config, kwargs

    def __aiter__(self):
        return self._async_pages()

    async def _async_pages(self):
        for page in self:
            yield page

    def __iter__(self) -> Iterator[list]:
        config, kwargs = self.config, dict(self.kwargs)
        method = kwargs.pop("method", "GET").upper()
        in_body = config.get("in_body", method in ("POST", "PUT", "PATCH"))
        key = "data" if in_body else "params"
        values = dict(kwargs.pop(key, None) or {})
        endpoint = self.endpoint
        limit = config.get("limit")
        if limit and config.get("limit_name_in_request"):
            values[config["limit_name_in_request"]] = limit
        kind = config["type"]
        offset = config.get("offset_start_value", 0)
        if kind == "offset":
            values[config["offset_name_in_request"]] = offset
        seen_links = set()
        while True:
            response = self.nango.proxy(endpoint, method=method, **{key: values}, **kwargs)
            page = dig(response.data, config.get("response_path", ""))
            if not isinstance(page, list):
                page = [] if page is None else [page]
            if page:
                yield page
            if not page:
                return
            if kind == "cursor":
                cursor = dig(response.data, config["cursor_path_in_response"])
                if not cursor:
                    return
                values[config["cursor_name_in_request"]] = cursor
            elif kind == "link":
                link = self._next_link(response)
                if not link or link in seen_links:
                    return
                seen_links.add(link)
                parts = urlsplit(link)
                if parts.scheme:
                    kwargs["base_url_override"] = f"{parts.scheme}://{parts.netloc}"
                endpoint = parts.path + (f"?{parts.query}" if parts.query else "")
                # The next link carries every parameter already.
                values = {}
            else:
                if limit and len(page) < limit:
                    return
                per_page = config.get("offset_calculation_method") == "per-page"
                offset += 1 if per_page else len(page)
                values[config["offset_name_in_request"]] = offset

    def _next_link(self, response: Response) -> str:
        if self.config.get("link_path_in_response_body"):
            link = dig(response.data, self.config["link_path_in_response_body"])
            return link if isinstance(link, str) else ""
        rel = self.config.get("link_rel_in_response_header", "next")
        header = response.headers.get("link", "")
        for link in requests.utils.parse_header_links(header) if header else []:
            if link.get("rel") == rel:
                return link.get("url", "")
        return ""
