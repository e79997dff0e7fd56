import json

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.utils.html import format_html

from webhooks.models import Delivery, DeliveryAttempt


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ["number", "started", "url", "status_code", "latency_ms", "error", "response"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["number", "pk"]

    @admin.display(description="response (excerpt)")
    def response(self, obj: DeliveryAttempt) -> str:
        return format_html("<pre>{}</pre>", obj.response_excerpt) if obj.response_excerpt else "-"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Webhook deliveries: what was sent where, how each attempt went, and resend."""

    list_display = [
        "code",
        "type",
        "about",
        "url",
        "status",
        "attempts",
        "last_status_code",
        "last_latency_ms",
        "created",
        "delivered",
    ]
    list_filter = ["status", "environment", "type"]
    list_select_related = ["execution", "connection"]
    search_fields = ["=code", "=execution__code", "=connection__connection_id", "url"]
    date_hierarchy = "created"
    show_full_result_count = False
    raw_id_fields = ["execution", "connection", "resent_from"]
    fields = [
        "code",
        "type",
        "environment",
        "execution",
        "connection",
        "url",
        "status",
        "attempts",
        "max_attempts",
        "next_attempt_at",
        "last_status_code",
        "last_latency_ms",
        "last_error",
        "created",
        "delivered",
        "resent_from",
        "headers",
        "pretty_body",
    ]
    readonly_fields = fields
    inlines = [AttemptInline]
    actions = ["resend"]

    @admin.display(description="About")
    def about(self, obj: Delivery) -> str:
        # An async run's end, or a connection's auth event.
        if obj.execution_id:
            return str(obj.execution)
        return f"connection {obj.connection.connection_id}" if obj.connection_id else "—"

    @admin.display(description="request headers")
    def headers(self, obj: Delivery):
        lines = "\n".join(f"{k}: {v}" for k, v in obj.request_headers().items())
        return format_html("<pre>{}</pre>", lines)

    @admin.display(description="request body")
    def pretty_body(self, obj: Delivery):
        try:
            text = json.dumps(json.loads(obj.body), indent=2, sort_keys=True, ensure_ascii=False)
        except ValueError:
            text = obj.body
        return format_html("<pre>{}</pre>", text)

    def has_operate_permission(self, request) -> bool:
        # Resending is an operation, not an edit: it needs the right to change deliveries,
        # which the read-only operator group does not have.
        return request.user.has_perm("webhooks.change_delivery")

    @admin.action(
        description="Resend the selected webhooks (as new deliveries)", permissions=["operate"]
    )
    def resend(self, request, queryset: QuerySet[Delivery]) -> None:
        copies = [delivery.resend() for delivery in queryset]
        self.message_user(request, f"{len(copies)} webhook(s) queued again.", messages.SUCCESS)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
