"""The `nango` object an action's `exec(nango, input)` receives."""

import json
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests
from django.db import transaction
from django.utils.timezone import now

from integrations.credentials import fresh_credentials
from integrations.errors import IncompleteConnection, RefreshError
from integrations.models import Connection
from integrations.providers import dig
from integrations.recorder import Recorder, secrets_of
from nango.errors import ActionError, HttpError, NetworkError
from nango.response import Response, ready
from nangosite.lib import http, storable

__all__ = ["ActionCancelled", "ActionContext", "ActionTimeout", "Recorder"]

LEVELS = ("debug", "info", "warn", "error")


class ActionTimeout(BaseException):
    """Raised inside a run that passed its deadline.

    A BaseException so that a function's own `except Exception` cannot swallow it.
    """


class ActionCancelled(BaseException):
    """Raised inside a run that was cancelled (POST /executions/<id>/cancel)."""


class RefreshFailed(ActionError):
    """The connection's OAuth2 token could not be refreshed. Left uncaught, the run fails
    with 424 `refresh_failed` (an ActionError, so functions that catch those still do)."""

    def __init__(self, exc: RefreshError) -> None:
        super().__init__({"message": f"{exc.message} The end user has to reconnect."})


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
        recorder.secrets |= secrets_of(connection.credentials)

    # --- provider calls -------------------------------------------------------------

    def _check_deadline(self) -> None:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            raise ActionTimeout()

    def _credentials(self) -> dict:
        try:
            credentials = fresh_credentials(self._connection)
        except RefreshError as exc:
            raise RefreshFailed(exc) from None
        self._recorder.secrets |= secrets_of(credentials)
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
        body_json = body_data = None
        if method in ("POST", "PUT", "PATCH", "DELETE") and data is not None:
            if isinstance(data, dict | list):
                body_json = data
            else:
                body_data = data
        try:
            raw = self._connection.call(
                method,
                endpoint,
                params=params,
                json=body_json,
                data=body_data,
                headers=headers,
                retries=retries,
                retry_on=retry_on or (),
                base_url_override=base_url_override,
                deadline=self._deadline,
                recorder=self._recorder,
                user_agent="nangosite-action",
            )
        except RefreshError as exc:
            raise RefreshFailed(exc) from None
        except IncompleteConnection as exc:
            message = f"connection is missing configuration: {exc.detail}"
            raise ActionError({"message": message}) from None
        except http.DeadlineExceeded:
            raise ActionTimeout() from None
        except http.HttpError as exc:
            if exc.response is None:
                raise NetworkError(self._recorder.redact(str(exc))) from None
            raw = exc.response
            response = Response.parse(raw.status_code, dict(raw.headers), raw.content)
            self._capture(method, raw.request.url, data, response)
            raise HttpError(
                f"{method} {self._recorder.redact(raw.request.url)} answered {raw.status_code}",
                response,
            ) from None
        response = Response.parse(raw.status_code, dict(raw.headers), raw.content)
        self._capture(method, raw.request.url, data, response)
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

    def _check_metadata(self, metadata: object) -> None:
        if not isinstance(metadata, dict):
            raise ActionError({"message": "metadata must be an object"})
        # Refused here rather than by the database, naming the place.
        if found := storable.problems(metadata, ("metadata",)):
            raise ActionError({"message": "the metadata cannot be stored", "errors": found})

    def set_metadata(self, metadata: dict) -> dict:
        self._check_metadata(metadata)
        Connection.objects.filter(pk=self._connection.pk).update(metadata=metadata, updated=now())
        self._connection.metadata = metadata
        return ready(dict(metadata))

    def update_metadata(self, metadata: dict) -> dict:
        self._check_metadata(metadata)
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
            except (ValueError, RecursionError):
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
