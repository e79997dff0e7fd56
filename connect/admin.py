"""Staff admin for end users and connect sessions: read-only records. A session's token
is never shown (only its hash is kept); OAuth states (with their PKCE verifiers) are
not listed at all."""

from django.contrib import admin
from django.db.models import Count
from django.utils.html import format_html, format_html_join
from django.utils.timezone import now

from connect.models import ConnectSession, EndUser


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(EndUser)
class EndUserAdmin(ReadOnly):
    list_display = [
        "end_user_id",
        "display_name",
        "email",
        "organization_id",
        "environment",
        "connection_count",
        "created",
    ]
    list_filter = ["environment"]
    list_select_related = ["environment"]
    search_fields = ["=end_user_id", "email", "display_name", "=organization_id"]
    fields = [
        "environment",
        "end_user_id",
        "display_name",
        "email",
        "organization_id",
        "organization_display_name",
        "tags",
        "connections_list",
        "created",
        "updated",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_connections=Count("connections"))

    @admin.display(description="Connections", ordering="n_connections")
    def connection_count(self, obj) -> int:
        return obj.n_connections

    @admin.display(description="Connections")
    def connections_list(self, obj):
        rows = obj.connections.select_related("integration").order_by("-created")[:50]
        items = [
            format_html(
                '<li><a href="../../../integrations/connection/{}/change/">{} / {}</a></li>',
                c.pk,
                c.integration.unique_key,
                c.connection_id,
            )
            for c in rows
        ]
        return (
            format_html("<ul>{}</ul>", format_html_join("", "{}", ((i,) for i in items)))
            if items
            else "—"
        )


@admin.register(ConnectSession)
class ConnectSessionAdmin(ReadOnly):
    list_display = [
        "code",
        "environment",
        "end_user",
        "allowed",
        "reconnects",
        "state",
        "created",
        "expires_at",
    ]
    list_filter = ["environment"]
    list_select_related = ["environment", "end_user", "connection"]
    search_fields = ["=code", "=end_user__end_user_id"]
    date_hierarchy = "created"
    fields = [
        "code",
        "environment",
        "end_user",
        "state",
        "allowed_integrations",
        "integrations_config_defaults",
        "tags",
        "webhook_url_override",
        "connection",
        "created",
        "expires_at",
    ]
    readonly_fields = fields

    @admin.display(description="Integrations")
    def allowed(self, obj) -> str:
        return ", ".join(obj.allowed_integrations) if obj.allowed_integrations else "all"

    @admin.display(description="Reconnects")
    def reconnects(self, obj) -> str:
        return obj.connection.connection_id if obj.connection_id else "—"

    @admin.display(description="State")
    def state(self, obj) -> str:
        return "live" if obj.expires_at > now() else "expired"
