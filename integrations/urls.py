from django.urls import path

from integrations import proxy, tools, views

urlpatterns = [
    path("integrations", views.integrations),
    path("integrations/<str:key>", views.integration),
    path("integrations/<str:key>/functions", views.functions),
    path("integrations/<str:key>/functions/<str:name>", views.function),
    path("integrations/<str:key>/functions/<str:name>/code", views.function_code),
    path("integrations/<str:key>/functions/<str:name>/versions", views.function_versions),
    path("integrations/<str:key>/functions/<str:name>/rollback", views.function_rollback),
    path("integrations/<str:key>/functions/<str:name>/unpin", views.function_unpin),
    path("functions/deploy", views.deploy_functions),
    path("connections", views.connections),
    path("connections/metadata", views.connections_metadata),
    path("connections/<str:connection_id>", views.connection),
    path("environment-variables", views.environment_variables),
    path("scripts/config", tools.scripts_config),
    path("proxy/<path:path>", proxy.proxy),
]
