"""Connect: the session endpoints an app calls, the auth routes the Connect page calls
with a session token, and the pages end users see (the Connect page, the OAuth2
popup's last page)."""

import secrets
from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_safe
from rest_framework.authentication import BaseAuthentication
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from connect import errors
from connect import serializers as s
from connect.models import ConnectSession, OAuthState
from integrations.models import Connection
from integrations.providers import AuthMode
from nangosite.api import (
    ApiError,
    error_of,
    invalid,
    method_not_allowed,
    raw_json,
    read_json,
    valid,
)
from nangosite.lib.errors import DomainError


@api_view(["POST"])
def sessions(request) -> Response:
    data = valid(s.SessionInput(data=request.data, context={"env": request.auth}))
    session, token = ConnectSession.objects.open(request.auth, data)
    return Response({"data": session.to_api(token)}, status=201)


@api_view(["POST"])
def reconnect(request) -> Response:
    data = valid(s.ReconnectInput(data=request.data, context={"env": request.auth}))
    session, token = ConnectSession.objects.open(request.auth, data)
    return Response({"data": session.to_api(token)}, status=201)


class SessionTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <connect session token>`; `request.auth` is the session."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            raise errors.InvalidSessionTokenFormat()
        return (None, ConnectSession.objects.by_token(token.strip()))

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="connect"'


class HasSession(BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ConnectSession)


@api_view(["GET", "DELETE"])
@authentication_classes([SessionTokenAuthentication])
@permission_classes([HasSession])
def session(request) -> Response:
    if request.method == "DELETE":
        request.auth.delete()
        return Response(status=204)
    return Response({"data": request.auth.describe()})


def _bracketed(query, name: str) -> dict[str, str]:
    """`params[subdomain]=acme` style parameters (qs's bracket notation) as a dict."""
    start, found = name + "[", {}
    for key, value in query.items():
        if key.startswith(start) and key.endswith("]") and len(key) > len(start) + 1:
            found[key[len(start) : -1]] = value
    return found


def _session_of(request: HttpRequest) -> ConnectSession:
    """The session of an auth route (`?connect_session_token=`)."""
    session = ConnectSession.objects.by_token(request.GET.get("connect_session_token", ""))
    if "connection_id" in request.GET:
        raise invalid(
            "invalid_query_params",
            {"connection_id": ["connection_id is forbidden when using session token"]},
        )
    return session


def _secure(response: HttpResponse, frameable: bool = False) -> HttpResponse:
    # Pages that carry a session: never cached, never referred to the provider.
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    if frameable:  # the Connect page is embedded by the app (openConnectUI's iframe)
        response.xframe_options_exempt = True
    return response


def _page(request, template: str, context: dict, status: int = 200, frameable=False):
    """A page with its own inline script and style, allowed by a per-response nonce."""
    nonce = secrets.token_urlsafe(16)
    response = render(request, template, {**context, "nonce": nonce}, status=status)
    ancestors = "*" if frameable else "'none'"
    response["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        f"connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; "
        f"frame-ancestors {ancestors}"
    )
    return _secure(response, frameable)


# The pages below only answer GET (and HEAD), which change nothing: CSRF has nothing to
# guard, and any other method gets its 405 with `Allow` instead of the CSRF failure page.
@csrf_exempt
@require_safe
def page(request) -> HttpResponse:
    """The Connect page: `connect_link` opens it, `openConnectUI` embeds it. It reads its
    session token from the link or from the embedding app, so it is the same for all."""
    response = _page(request, "connect/connect.html", {}, frameable=True)
    # The OAuth2 popup goes to the provider and back: it must keep its opener.
    response["Cross-Origin-Opener-Policy"] = "same-origin-allow-popups"
    return response


@csrf_exempt
@require_safe
def to_page(request) -> HttpResponse:
    """`/connect` → `/connect/`, the query kept (a connect_link's token)."""
    query = request.META.get("QUERY_STRING", "")
    return HttpResponseRedirect("/connect/" + (f"?{query}" if query else ""))


def _popup(request, connection: Connection | None = None, error: Exception | None = None):
    """The popup's last page: it tells its opener (the Connect page) how it went."""
    status, context = 200, {}
    if connection is not None:
        context = {
            "ok": True,
            "provider_config_key": connection.integration.unique_key,
            "connection_id": connection.connection_id,
        }
    else:
        found = error_of(error)
        status, body = (found[0], found[1]) if found else (500, {"error": {"code": "unknown_err"}})
        context = {"ok": False, "code": body["error"]["code"], "message": body["error"]["message"]}
    context["result"] = dict(context)
    response = _page(request, "connect/callback.html", context, status=status)
    # Back from the provider's pages, the opener is kept only if this page allows it.
    response["Cross-Origin-Opener-Policy"] = "unsafe-none"
    return response


@csrf_exempt
@require_GET
def oauth_connect(request, key: str) -> HttpResponse:
    """Start an OAuth2 authorization: store its state, send the end user to the provider."""
    try:
        session = _session_of(request)
        url = OAuthState.objects.begin(
            session,
            session.integration(key),
            _bracketed(request.GET, "params"),
            _bracketed(request.GET, "authorization_params"),
        )
    except (DomainError, ApiError) as exc:
        return _popup(request, error=exc)
    response = _secure(HttpResponseRedirect(url))
    # Browsers apply an opener policy on redirects too: this one must keep the opener.
    response["Cross-Origin-Opener-Policy"] = "unsafe-none"
    return response


@csrf_exempt
@require_GET
def oauth_callback(request) -> HttpResponse:
    """Where the provider sends the end user back: check the state, exchange the code."""
    query = request.GET
    try:
        state = OAuthState.objects.consume(query.get("state", ""))
        connection = state.complete(
            query.get("code", ""), query.get("error", ""), query.get("error_description", "")
        )
    except DomainError as exc:
        return _popup(request, error=exc)
    return _popup(request, connection=connection)


def _auth_route(view: Callable[..., Connection]) -> Callable[..., HttpResponse]:
    """A POST auth route of the Connect page: session token in the query, JSON body,
    `{"connectionId", "providerConfigKey"}` or the API's error shape."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, key: str) -> HttpResponse:
        try:
            if request.method != "POST":
                return method_not_allowed("POST")
            session = _session_of(request)
            integration = session.integration(key)
            body = read_json(request)
            connection = view(session, integration, body)
        except Exception as exc:
            answer = error_of(exc)
            if answer is None:
                raise
            status, data, headers = answer
            return raw_json(data, status, headers)
        return raw_json({"connectionId": connection.connection_id, "providerConfigKey": key})

    return wrapper


def _config(session: ConnectSession, key: str) -> dict:
    return dict(session.defaults_for(key).get("connection_config") or {})


@_auth_route
def api_key(session: ConnectSession, integration, body) -> Connection:
    mode = integration.catalog.auth_mode
    if mode not in (AuthMode.API_KEY, AuthMode.BEARER):
        raise errors.InvalidAuthMode(f"{integration.unique_key} does not take an API key.")
    data = valid(s.ApiKeyInput(data=body))
    if mode == AuthMode.BEARER:
        credentials = {"type": "BEARER", "token": data["apiKey"]}
    else:
        credentials = {"type": "API_KEY", "apiKey": data["apiKey"]}
    config = _config(session, integration.unique_key)
    return session.connect(integration, credentials, config, Connection.Via.API_KEY)[0]


@_auth_route
def basic(session: ConnectSession, integration, body) -> Connection:
    if integration.catalog.auth_mode != AuthMode.BASIC:
        raise errors.InvalidAuthMode(f"{integration.unique_key} does not take basic auth.")
    data = valid(s.BasicInput(data=body))
    credentials = {"type": "BASIC", "username": data["username"], "password": data["password"]}
    config = _config(session, integration.unique_key)
    return session.connect(integration, credentials, config, Connection.Via.BASIC)[0]
