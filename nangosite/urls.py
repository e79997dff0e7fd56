from django.contrib import admin
from django.urls import include, path, re_path

from executions import mcp
from executions import views as execution_views
from nangosite import api, openapi

urlpatterns = [
    path("admin/", admin.site.urls),
    path("action/trigger", execution_views.trigger_action),
    path("action/<str:id>", execution_views.action_result),
    path("executions/<str:id>", execution_views.execution_detail),
    path("executions/<str:id>/cancel", execution_views.execution_cancel),
    path("mcp", mcp.mcp),
    path("actions/<str:key>/<str:name>", execution_views.trigger_named),
    path("functions/dryrun", execution_views.dryrun),
    path("openapi.json", openapi.openapi_json),
    path("docs", openapi.docs_page),
    path("", include("connect.urls")),
    path("", include("integrations.urls")),
    # Last: any other path outside the admin (which keeps its own HTML pages).
    re_path(r"^(?!admin/)", api.unknown_path),
]

handler400 = "nangosite.api.json_400"
handler404 = "nangosite.api.json_404"
handler500 = "nangosite.api.json_500"
