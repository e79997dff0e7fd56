"""A Python client for the platform's HTTP API, the counterpart of `@nangohq/node`.

    from nango import Nango, NangoError

    nango = Nango(secret_key="...", host="http://127.0.0.1:8000")
    issue = nango.trigger_action("github", "alice", "create-issue", {"title": "Hi"})

One `requests.Session` per client reuses connections; every call has a timeout; every
failure raises `NangoError`. A client may be shared by threads for plain calls (requests'
connection pool is thread-safe); give each thread its own if you change its session.
"""

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any

import requests

DEFAULT_HOST = "http://127.0.0.1:8000"
# Seconds to open a TCP connection; the read timeout is per call.
CONNECT_TIMEOUT = 10.0
# The server holds `GET /action/<id>?wait=` at most this long; longer waits loop.
MAX_SERVER_WAIT = 30.0
_UNSET: Any = object()


class NangoError(Exception):
    """Any failed call: the API answered an error, or did not answer at all.

    `status` is the HTTP status (None when there was no answer); `code`, `message`,
    `payload`, `errors` and `upstream` come from the API's `{"error": {...}}` body; `body`
    is the whole body (parsed JSON, else text); `response` the `requests.Response`.
    """

    def __init__(
        self,
        message: str,
        status: int | None = None,
        code: str | None = None,
        payload: Any = None,
        body: Any = None,
        errors: list | None = None,
        upstream: dict | None = None,
        response: requests.Response | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.payload = payload
        self.body = body
        self.errors = errors
        self.upstream = upstream
        self.response = response

    def __str__(self) -> str:
        where = f"{self.status} " if self.status is not None else ""
        what = f"{self.code}: " if self.code else ""
        return f"{where}{what}{self.message}"

    def __repr__(self) -> str:
        return f"NangoError(status={self.status!r}, code={self.code!r}, message={self.message!r})"

    @classmethod
    def from_response(cls, response: requests.Response) -> "NangoError":
        body = _body(response)
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            return cls(
                str(error.get("message") or f"HTTP {response.status_code}"),
                status=response.status_code,
                code=error.get("code"),
                payload=error.get("payload"),
                body=body,
                errors=error.get("errors"),
                upstream=error.get("upstream"),
                response=response,
            )
        # Not our error shape: a provider's answer through the proxy, or a bare error page.
        return cls(
            f"HTTP {response.status_code}", response.status_code, body=body, response=response
        )


def _body(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


class Nango:
    """The platform's API with one environment's secret key.

    `timeout` bounds every call but the synchronous action triggers, which get
    `action_timeout` (a run may last up to the server's ACTION_TIMEOUT_SECONDS, 900 s by
    default). `webhook_signing_key` is what `verify_webhook` checks signatures with.
    """

    def __init__(
        self,
        secret_key: str,
        host: str = DEFAULT_HOST,
        *,
        webhook_signing_key: str | None = None,
        timeout: float = 30.0,
        action_timeout: float = 960.0,
        session: requests.Session | None = None,
    ):
        if not secret_key:
            raise ValueError("secret_key is required")
        self.host = host.rstrip("/")
        self.webhook_signing_key = webhook_signing_key
        self.timeout = timeout
        self.action_timeout = action_timeout
        self.session = session or requests.Session()
        self._auth = {"Authorization": f"Bearer {secret_key}"}

    def __repr__(self) -> str:
        return f"Nango(host={self.host!r})"  # never the key

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "Nango":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- transport ---------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping | str | None = None,
        json: Any = _UNSET,
        data: Any = None,
        headers: Mapping | None = None,
        timeout: float | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """One call to the API; the response when it is 2xx/3xx, else `NangoError`."""
        if path.startswith(("http://", "https://")):
            url = path  # a statusUrl given whole
        else:
            url = self.host + "/" + path.lstrip("/")
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                json=None if json is _UNSET else json,
                # `json=None` sends no body; a JSON null must be written out.
                data=b"null" if json is None and data is None else data,
                headers={**(headers or {}), **self._auth},
                timeout=(CONNECT_TIMEOUT, timeout or self.timeout),
                stream=stream,
            )
        except requests.Timeout as exc:
            raise NangoError(f"{method} {url} timed out", code="timeout") from exc
        except requests.RequestException as exc:
            raise NangoError(
                f"{method} {url} failed: {type(exc).__name__}", code="network_error"
            ) from exc
        if response.status_code >= 400:
            raise NangoError.from_response(response)
        return response

    def _json(self, method: str, path: str, **kwargs) -> Any:
        if "json" in kwargs and kwargs["json"] is not _UNSET:
            kwargs.setdefault("headers", {})["Content-Type"] = "application/json"
        return _body(self.request(method, path, **kwargs))

    # --- actions -----------------------------------------------------------------------

    def trigger_action(
        self,
        provider_config_key: str,
        connection_id: str,
        action_name: str,
        input: Any = None,
        *,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Run an action and wait for it: its output (any JSON value)."""
        headers = self._action_headers(provider_config_key, connection_id, idempotency_key)
        return self._json(
            "POST",
            "/action/trigger",
            json=self._action_body(action_name, input),
            headers=headers,
            timeout=timeout or self.action_timeout,
        )

    def trigger_action_async(
        self,
        provider_config_key: str,
        connection_id: str,
        action_name: str,
        input: Any = None,
        *,
        max_retries: int | None = None,
        idempotency_key: str | None = None,
    ) -> dict:
        """Queue a run: `{"id", "statusUrl"}` as soon as it is durably queued."""
        headers = self._action_headers(provider_config_key, connection_id, idempotency_key)
        headers["X-Async"] = "true"
        if max_retries is not None:
            headers["X-Max-Retries"] = str(max_retries)
        return self._json(
            "POST", "/action/trigger", json=self._action_body(action_name, input), headers=headers
        )

    def get_async_action_result(
        self, id: str | None = None, *, status_url: str | None = None, wait: float = 0
    ) -> Any:
        """An async run's output once it succeeded; `NangoError` with its error once it
        failed, and with status 404, code `pending`, while it is still queued or running.

        `wait` (seconds) holds the call until the run ends or the time passes.
        """
        if not id and not status_url:
            raise ValueError("either id or status_url is required")
        path = status_url or f"/action/{id}"
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            left = deadline - time.monotonic()
            now_wait = round(min(max(left, 0.0), MAX_SERVER_WAIT), 3)
            try:
                return self._json(
                    "GET",
                    path,
                    params={"wait": now_wait} if now_wait > 0 else None,
                    timeout=self.timeout + now_wait,
                )
            except NangoError as exc:
                if exc.code != "pending" or deadline - time.monotonic() <= 0:
                    raise

    @staticmethod
    def _action_headers(key: str, connection_id: str, idempotency_key: str | None) -> dict:
        headers = {"Connection-Id": connection_id, "Provider-Config-Key": key}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    @staticmethod
    def _action_body(action_name: str, input: Any) -> dict:
        # As @nangohq/node: no `input` key when there is no input.
        return {"action_name": action_name, **({} if input is None else {"input": input})}

    # --- integrations, connections, metadata -------------------------------------------

    def list_integrations(self) -> list[dict]:
        return self._json("GET", "/integrations")["data"]

    def get_connection(
        self,
        provider_config_key: str,
        connection_id: str,
        *,
        force_refresh: bool = False,
        refresh_token: bool = False,
    ) -> dict:
        """The connection with its (fresh) credentials."""
        params = {"provider_config_key": provider_config_key}
        if force_refresh:
            params["force_refresh"] = "true"
        if refresh_token:
            params["refresh_token"] = "true"
        return self._json("GET", f"/connections/{_segment(connection_id)}", params=params)

    def import_connection(
        self,
        provider_config_key: str,
        connection_id: str,
        credentials: dict,
        *,
        metadata: dict | None = None,
        connection_config: dict | None = None,
        tags: dict | None = None,
    ) -> dict:
        """Create or replace a connection with credentials obtained elsewhere."""
        body = {
            "provider_config_key": provider_config_key,
            "connection_id": connection_id,
            "credentials": credentials,
        }
        for name, value in (
            ("metadata", metadata),
            ("connection_config", connection_config),
            ("tags", tags),
        ):
            if value is not None:
                body[name] = value
        return self._json("POST", "/connections", json=body)

    def get_metadata(self, provider_config_key: str, connection_id: str) -> dict:
        return self.get_connection(provider_config_key, connection_id)["metadata"]

    def set_metadata(
        self, provider_config_key: str, connection_id: str | list[str], metadata: dict
    ) -> dict:
        """Replace the metadata of one connection, or of several (all or none)."""
        return self._metadata("POST", provider_config_key, connection_id, metadata)

    def update_metadata(
        self, provider_config_key: str, connection_id: str | list[str], metadata: dict
    ) -> dict:
        """Merge keys into the metadata (shallow) of one connection or several."""
        return self._metadata("PATCH", provider_config_key, connection_id, metadata)

    def _metadata(self, method: str, key: str, connection_id, metadata: dict) -> dict:
        body = {"provider_config_key": key, "connection_id": connection_id, "metadata": metadata}
        return self._json(method, "/connections/metadata", json=body)

    # --- the requests proxy ------------------------------------------------------------

    def proxy(
        self,
        endpoint: str,
        provider_config_key: str,
        connection_id: str,
        *,
        method: str = "GET",
        params: Mapping | str | None = None,
        data: Any = None,
        headers: Mapping | None = None,
        retries: int = 0,
        retry_on: list[int] | None = None,
        base_url_override: str | None = None,
        decompress: bool = False,
        stream: bool = False,
        timeout: float | None = None,
    ) -> requests.Response:
        """Call the provider's API as the connection; the provider's response.

        `data` that is a dict or list goes as JSON, bytes or str as they are. `headers` go
        to the provider. With `stream=True` the body is read as you iterate
        (`response.iter_content()`), for answers too large to hold. A non-2xx answer
        raises `NangoError` whose `body` and `response` are the provider's.
        """
        sent = {
            "Connection-Id": connection_id,
            "Provider-Config-Key": provider_config_key,
        }
        for name, value in (headers or {}).items():
            sent[f"Nango-Proxy-{name}"] = str(value)
            if name.lower() == "content-type":
                sent["Content-Type"] = str(value)
        if retries:
            sent["Retries"] = str(retries)
        if retry_on:
            sent["Retry-On"] = ",".join(str(s) for s in retry_on)
        if base_url_override:
            sent["Base-Url-Override"] = base_url_override
        if decompress:
            sent["Decompress"] = "true"
        body: dict = {}
        if isinstance(data, dict | list):
            body["json"] = data
        elif data is not None:
            body["data"] = data
        return self.request(
            method.upper(),
            "/proxy/" + endpoint.lstrip("/"),
            params=params,
            headers=sent,
            timeout=timeout,
            stream=stream,
            **body,
        )

    def get(self, endpoint: str, provider_config_key: str, connection_id: str, **kwargs):
        return self.proxy(endpoint, provider_config_key, connection_id, method="GET", **kwargs)

    def post(self, endpoint: str, provider_config_key: str, connection_id: str, **kwargs):
        return self.proxy(endpoint, provider_config_key, connection_id, method="POST", **kwargs)

    def put(self, endpoint: str, provider_config_key: str, connection_id: str, **kwargs):
        return self.proxy(endpoint, provider_config_key, connection_id, method="PUT", **kwargs)

    def patch(self, endpoint: str, provider_config_key: str, connection_id: str, **kwargs):
        return self.proxy(endpoint, provider_config_key, connection_id, method="PATCH", **kwargs)

    def delete(self, endpoint: str, provider_config_key: str, connection_id: str, **kwargs):
        return self.proxy(endpoint, provider_config_key, connection_id, method="DELETE", **kwargs)

    # --- functions: deploy, dry run, versions (what the `nango` CLI calls) ---------------

    def deploy(
        self,
        files: dict[str, str],
        *,
        integration: str = "",
        action: str = "",
        prune: bool = False,
        dry_run: bool = False,
        commit: str = "",
        deployed_by: str = "",
        environment: str = "",
        timeout: float = 300,
    ) -> dict:
        """Deploy a function tree (`nango.tree.read_tree()`: tree path to source), all or
        nothing: the table of changes (`{"environment", "dry_run", "changes", "summary"}`),
        or `NangoError` 400 `invalid_functions` whose `errors` name each file and line."""
        body = {
            "files": files,
            "integration": integration,
            "action": action,
            "prune": prune,
            "dry_run": dry_run,
            "commit": commit,
            "deployed_by": deployed_by,
            "environment": environment,
        }
        return self._json("POST", "/functions/deploy", json=body, timeout=timeout)

    def dry_run(
        self,
        files: dict[str, str],
        action: str,
        connection_id: str,
        input: Any = None,
        *,
        integration: str = "",
        validation: bool = False,
        save: bool = False,
        environment: str = "",
    ) -> dict:
        """Run `action` of the posted tree on the server against a connection, storing
        nothing: its output or error, logs, provider calls, and with `save` the fixture."""
        body = {
            "files": files,
            "action": action,
            "connection_id": connection_id,
            "integration": integration,
            "validation": validation,
            "save": save,
            "environment": environment,
        }
        if input is not None:
            body["input"] = input
        return self._json("POST", "/functions/dryrun", json=body, timeout=self.action_timeout)

    def function_versions(self, provider_config_key: str, name: str) -> dict:
        """An action's versions, newest first, with the live one and who deployed each."""
        return self._json("GET", self._function_path(provider_config_key, name, "versions"))

    def rollback(
        self, provider_config_key: str, name: str, version: int | str | None = None, *, pin=True
    ) -> dict:
        """Make an earlier version live (`version`: a number, a declared version string, or
        None for the one before the live one), pinned unless `pin` is False."""
        body: dict = {"pin": pin}
        if version is not None:
            body["version"] = str(version)
        path = self._function_path(provider_config_key, name, "rollback")
        return self._json("POST", path, json=body)

    def unpin(self, provider_config_key: str, name: str) -> dict:
        """Let deploys replace the live version again."""
        return self._json("POST", self._function_path(provider_config_key, name, "unpin"))

    @staticmethod
    def _function_path(key: str, name: str, what: str) -> str:
        return f"/integrations/{_segment(key)}/functions/{_segment(name)}/{what}"

    # --- webhooks ----------------------------------------------------------------------

    def verify_webhook(
        self, body: bytes | str, headers: Mapping, signing_key: str | None = None
    ) -> bool:
        """True when `X-Nango-Hmac-Sha256` is the hex HMAC-SHA256 of the exact body bytes
        under the environment's webhook signing key (as @nangohq/node's
        verifyIncomingWebhookRequest). Pass the raw body, not re-serialized JSON."""
        key = signing_key or self.webhook_signing_key
        if not key:
            raise ValueError("verify_webhook needs the webhook signing key")
        given = next(
            (v for k, v in headers.items() if k.lower() == "x-nango-hmac-sha256"),
            None,
        )
        if not isinstance(given, str):
            return False
        raw = body.encode() if isinstance(body, str) else bytes(body)
        expected = hmac.new(key.encode(), raw, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), given.strip().lower().encode(errors="ignore"))


def _segment(value: str) -> str:
    # A connection id is one path segment, whatever it contains.
    return requests.utils.quote(value, safe="")
