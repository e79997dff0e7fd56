from django.urls import path

from connect import views

urlpatterns = [
    path("connect/sessions", views.sessions),
    path("connect/sessions/reconnect", views.reconnect),
    path("connect/session", views.session),
    path("connect/", views.page),
    path("connect", views.to_page),
    path("oauth/connect/<str:key>", views.oauth_connect),
    path("oauth/callback", views.oauth_callback),
    path("api-auth/api-key/<str:key>", views.api_key),
    path("api-auth/basic/<str:key>", views.basic),
]
