from django.urls import path
from django.views.generic import RedirectView

from connect import views

urlpatterns = [
    path("connect/sessions", views.sessions),
    path("connect/sessions/reconnect", views.reconnect),
    path("connect/session", views.session),
    path("connect/", views.page),
    path("connect", RedirectView.as_view(url="/connect/", query_string=True)),
    path("oauth/connect/<str:key>", views.oauth_connect),
    path("oauth/callback", views.oauth_callback),
    path("api-auth/api-key/<str:key>", views.api_key),
    path("api-auth/basic/<str:key>", views.basic),
]
