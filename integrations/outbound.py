"""How a connection calls its provider: `Connection.call`, the one outbound seam of
actions and the proxy, with the base URL, auth and retry policy it builds on.

A mixin of `integrations.models.Connection` (its fields: `integration`, `credentials`,
`connection_config`), kept apart so the model module stays about the data.
"""

from collections.abc import Iterable

import requests
from django.conf import settings

from integrations.credentials import fresh_credentials, refreshable_after
from integrations.errors import IncompleteConnection
from integrations.providers import TemplateError
from integrations.recorder import Recorder, secrets_of
from nangosite.lib import http, metrics
from nangosite.lib.http import RetryPolicy


class ProviderCalls:
    def provider_call_parts(
        self, credentials: dict, base_url_override: str = ""
    ) -> tuple[str, dict, dict]:
        """The base URL (no trailing slash), auth headers and auth query parameters of a
        call to this connection's provider, as its catalog entry says. Raises
        TemplateError when the connection lacks a value the provider's templates need."""
        provider = self.provider
        config = self.connection_config or {}
        base = (
            base_url_override
            or settings.PROVIDER_BASE_URL_OVERRIDES.get(provider.name)
            or provider.resolve_base_url(config)
        ).rstrip("/")
        return (
            base,
            provider.auth_headers(credentials, config),
            provider.auth_query(credentials, config),
        )

    def retry_policy(self, retries: int, retry_on: Iterable[int] = ()) -> RetryPolicy:
        """How a call to the provider is retried: `retries` (0-10) more attempts on 429,
        5xx, network errors and `retry_on`, waiting as the provider's rate-limit headers
        say."""
        limits = self.provider.rate_limit
        return RetryPolicy(
            retries=max(0, min(int(retries or 0), 10)),
            retry_on=tuple(retry_on),
            error_codes=limits.error_codes,
            after_headers=limits.after,
            at_headers=limits.at,
            remaining_header=limits.remaining,
            backoff_base=settings.PROVIDER_BACKOFF_BASE_SECONDS,
            backoff_max=settings.PROVIDER_BACKOFF_MAX_SECONDS,
        )

    def call(
        self,
        method: str,
        endpoint: str,
        *,
        params: dict | str | None = None,
        json: object = None,
        data: object = None,
        headers: dict | None = None,
        retries: int = 0,
        retry_on: Iterable[int] = (),
        base_url_override: str = "",
        deadline: float | None = None,
        stream: bool = False,
        recorder: Recorder | None = None,
        user_agent: str = "nangosite",
    ) -> requests.Response:
        """Call this connection's provider: the one way actions and the proxy reach it.

        Fresh credentials (an expiring OAuth2 token is refreshed first), the catalog's base
        URL, auth headers and auth query, the provider's retry policy, and the run's
        `deadline` over attempts and waits. Each attempt is recorded on `recorder`, which
        also learns the credentials' values so that nothing it records holds them.
        `endpoint` is a path (already URL-encoded) or a URL under the base URL; `params`
        a dict or a query string.

        Returns the provider's 2xx/3xx answer. Raises RefreshError, IncompleteConnection,
        or `http.HttpError` (its `response` set when the provider answered non-2xx).
        """
        query = params.lstrip("?") if isinstance(params, str) else ""
        params = None if isinstance(params, str) else params
        credentials, refreshed = fresh_credentials(self), False
        while True:
            if recorder is not None:
                recorder.secrets |= secrets_of(credentials)
            try:
                base, auth_headers, auth_query = self.provider_call_parts(
                    credentials, base_url_override
                )
            except TemplateError as exc:
                raise IncompleteConnection(str(exc)) from None
            path = endpoint[len(base) :] if endpoint.startswith(base) else endpoint
            url = base + ("/" + path if path and not path.startswith("/") else path)
            if query:
                url += ("&" if "?" in url else "?") + query
            if added := {**(params or {}), **auth_query}:
                prepared = requests.models.PreparedRequest()
                prepared.prepare_url(url, added)
                url = prepared.url
            # The caller's own headers win over the provider's, as in Nango.
            request_headers = {"User-Agent": user_agent, **auth_headers, **(headers or {})}
            on_attempt = recorder.call if recorder is not None else None
            if metrics.enabled():
                on_attempt = metrics.provider_calls(self.provider.name, on_attempt)
            request = http.Request(
                method,
                url,
                json=json,
                data=data,
                headers=request_headers,
                timeout=settings.PROVIDER_TIMEOUT_SECONDS,
                stream=stream,
            )
            try:
                return http.send(
                    request,
                    self.retry_policy(retries, retry_on),
                    deadline=deadline,
                    on_attempt=on_attempt,
                )
            except http.HttpError as exc:
                # A 401 on an OAuth2 token: refresh it once (unless another call did), retry.
                if refreshed or not refreshable_after(exc, credentials):
                    raise
                exc.response.close()
                credentials = fresh_credentials(self, rejected=credentials, deadline=deadline)
                refreshed = True
