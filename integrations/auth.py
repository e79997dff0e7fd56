from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from integrations.models import Environment
from nangosite.api import ApiError, error_of, raw_json


class SecretKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer <environment secret key>`; `request.auth` is the Environment."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise ApiError(
                401,
                "invalid_auth_header",
                "Authentication failed. Use `Authorization: Bearer <secret key>`.",
            )
        env = Environment.objects.by_secret_key(key)
        if env is None:
            raise ApiError(
                401, "unknown_account", "Authentication failed. The secret key is not valid."
            )
        return (None, env)

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class HasEnvironment(BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, Environment)


def lean_post_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A POST endpoint with the API's key and error shape, but without DRF.

    For the three trigger entrances (`/action/trigger`, `/actions/…`, `/mcp`): DRF's
    per-request machinery (its Request wrapper, content negotiation, permission and
    throttle passes) costs about a quarter of a millisecond, a tenth of a trigger. The
    view is called as view(request, environment, ...) and reads its body with
    `nangosite.api.read_json`. Authentication comes first and the method check second,
    in DRF's order.
    """

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            found = SecretKeyAuthentication().authenticate(request)
            if found is None:
                raise exceptions.NotAuthenticated()
            if request.method != "POST":
                raise exceptions.MethodNotAllowed(request.method)
            return view(request, found[1], *args, **kwargs)
        except Exception as exc:
            answer = error_of(exc)
            if answer is None:
                raise  # Django logs it and answers with the JSON 500 handler
            status, body, headers = answer
            if status == 405:
                headers["Allow"] = "POST"
            return raw_json(body, status, headers=headers)

    return wrapper
