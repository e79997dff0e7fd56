"""The middleware only the pages people use need: sessions, logged-in users, messages,
CSRF protection and frame options, for the admin and the Connect pages.

The JSON API (the paths in API_PATHS) authenticates every request by its key and keeps no
session: it skips them. Each class here is the Django middleware it names (a subclass, so
the admin's system checks find it), run for every path but the API's. On a sync trigger
the five of them were a tenth of the platform's own cost.
"""

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware

# The JSON API's paths (nangosite/urls.py, integrations/urls.py): views that take the
# environment's key and are csrf-exempt (DRF's, and integrations.auth.lean_post_view).
API_PATHS = (
    "/action/",
    "/actions/",
    "/executions/",
    "/proxy/",
    "/mcp",
    "/integrations",
    "/connections",
    "/environment-variables",
    "/scripts/",
    "/functions/",
)


class PagesOnly:
    def __call__(self, request):
        if request.path_info.startswith(API_PATHS):
            return self.get_response(request)
        return super().__call__(request)


class Sessions(PagesOnly, SessionMiddleware):
    pass


class Csrf(PagesOnly, CsrfViewMiddleware):
    def process_view(self, request, callback, callback_args, callback_kwargs):
        if request.path_info.startswith(API_PATHS):
            return None
        return super().process_view(request, callback, callback_args, callback_kwargs)


class Authentication(PagesOnly, AuthenticationMiddleware):
    pass


class Messages(PagesOnly, MessageMiddleware):
    pass


class FrameOptions(PagesOnly, XFrameOptionsMiddleware):
    pass
