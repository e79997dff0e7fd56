from django.contrib import admin

from integrations.models import (
    Connection,
    Environment,
    EnvironmentVariable,
    Function,
    FunctionVersion,
    Integration,
)


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    # Keys are made by `create_environment` and shown once; the admin never shows them.
    list_display = ["name", "secret_key_hint", "created", "action_concurrency"]
    fields = ["name", "webhook_primary_url", "webhook_secondary_url", "action_concurrency"]
    search_fields = ["name"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(EnvironmentVariable)
class EnvironmentVariableAdmin(admin.ModelAdmin):
    list_display = ["name", "environment"]
    list_filter = ["environment"]
    fields = ["environment", "name"]


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = ["unique_key", "provider", "environment", "created"]
    list_filter = ["environment", "provider"]
    search_fields = ["unique_key"]
    fields = ["environment", "unique_key", "provider", "display_name", "oauth_client_id"]


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ["connection_id", "integration", "created", "updated"]
    list_filter = ["integration__environment", "integration"]
    list_select_related = ["integration"]
    search_fields = ["connection_id"]
    # Credentials are never displayed.
    fields = ["integration", "connection_id", "metadata", "tags", "connection_config"]
    readonly_fields = ["integration", "connection_id"]

    def has_add_permission(self, request) -> bool:
        return False


class VersionInline(admin.TabularInline):
    model = FunctionVersion
    fields = ["number", "version", "active", "checksum", "deployed_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-number"]


@admin.register(Function)
class FunctionAdmin(admin.ModelAdmin):
    list_display = ["name", "integration", "type", "enabled"]
    list_filter = ["enabled", "integration__environment"]
    list_select_related = ["integration"]
    fields = ["integration", "name", "type", "enabled"]
    readonly_fields = ["integration", "name", "type"]
    inlines = [VersionInline]

    def has_add_permission(self, request) -> bool:
        return False
