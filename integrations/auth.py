from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from integrations.models import Environment
from nangosite.api import ApiError


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
