from django.contrib import admin

from executions.models import Execution


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "action_name",
        "connection_ref",
        "status",
        "http_status",
        "created",
        "duration_ms",
    ]
    list_filter = ["status", "environment", "action_name"]
    search_fields = ["=code", "=connection_ref"]
    date_hierarchy = "created"
    show_full_result_count = False
    readonly_fields = [f.name for f in Execution._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
