"""Staff admin for executions: a list that stays fast on a million rows, a detail page that
shows everything a run did, retry and cancel, and the dashboard (executions/dashboard.py).

The list never counts the whole table (at most CAP + 1 rows are counted), filters only on
indexed columns, and loads the columns it shows with one query per page.
"""

import uuid
from functools import cached_property

from django.contrib import admin, messages
from django.contrib.admin.views.main import PAGE_VAR, ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.db.models.fields.json import KT
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import NoReverseMatch, path, reverse
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join
from django.utils.timezone import is_naive, make_aware

from executions import dashboard
from executions.models import TERMINAL, Execution, Lock, RetryRefused, Status
from integrations.models import Function, Integration
from nangosite.lib.pretty import json_html

# Rows counted for the list's paginator: past this it says "10,000+" (narrow the filters).
CAP = 10_000
# Failed runs one bulk "retry" click re-queues.
BULK_RETRY_LIMIT = 1_000
# The columns the list shows; the heavy JSON (input, output, logs…) is never loaded there.
LIST_COLUMNS = [
    "code",
    "environment__name",
    "provider_config_key",
    "action_name",
    "connection_id",
    "is_async",
    "status",
    "http_status",
    "attempts",
    "created",
    "duration_ms",
]

admin.site.site_header = "nangosite admin"
admin.site.site_title = "nangosite"
admin.site.index_title = "Action functions"
admin.site.index_template = "admin/nango_index.html"


class CappedPaginator(Paginator):
    """Counts at most CAP + 1 rows: `count(*)` over a million rows is the slow part."""

    @cached_property
    def counted(self) -> int:
        # Only ids: the list's annotations (the error code) need not be computed to count.
        return self.object_list.order_by().values("pk")[: CAP + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self.counted, CAP)

    @property
    def capped(self) -> bool:
        return self.counted > CAP


class ExecutionChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        qs = super().get_queryset(request, exclude_parameters)
        return qs.only(*LIST_COLUMNS).annotate(error_code=KT("error__error__code"))


class IntegrationFilter(admin.SimpleListFilter):
    title = "integration"
    parameter_name = "integration"

    def lookups(self, request, model_admin):
        keys = Integration.objects.order_by("unique_key").values_list("unique_key", flat=True)
        return [(k, k) for k in keys.distinct()]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(provider_config_key=self.value())
        return queryset


class ActionFilter(admin.SimpleListFilter):
    """Integration and action together, so the (provider_config_key, action_name) index serves."""

    title = "action"
    parameter_name = "function"  # not "action": the changelist's POST uses that name

    def lookups(self, request, model_admin):
        rows = Function.objects.values_list("integration__unique_key", "name").distinct()
        if request.GET.get("integration"):
            rows = rows.filter(integration__unique_key=request.GET["integration"])
        return [(f"{k}/{n}", f"{n} ({k})") for k, n in sorted(set(rows))]

    def queryset(self, request, queryset):
        key, _, name = (self.value() or "").partition("/")
        if name:
            return queryset.filter(provider_config_key=key, action_name=name)
        return queryset


class ModeFilter(admin.SimpleListFilter):
    title = "mode"
    parameter_name = "mode"

    def lookups(self, request, model_admin):
        return [("sync", "sync"), ("async", "async")]

    def queryset(self, request, queryset):
        if self.value() in ("sync", "async"):
            return queryset.filter(is_async=self.value() == "async")
        return queryset


class InputFilter(admin.ListFilter):
    """A filter typed into boxes rather than picked from a list."""

    template = "admin/executions/input_filter.html"
    inputs: tuple[tuple[str, str, str], ...] = ()  # (parameter, label, input type)

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name, _, _ in self.inputs:
            if name in params:
                value = params.pop(name)[-1].strip()
                if value:
                    self.used_parameters[name] = value

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str]:
        return [name for name, _, _ in self.inputs]

    def choices(self, changelist):
        mine = set(self.expected_parameters())
        keep = {k: v for k, v in changelist.params.items() if k not in mine and k != PAGE_VAR}
        yield {
            "inputs": [
                {"name": n, "label": label, "type": t, "value": self.used_parameters.get(n, "")}
                for n, label, t in self.inputs
            ],
            "hidden": sorted(keep.items()),
            "clear_url": changelist.get_query_string(remove=[*mine, PAGE_VAR]),
            "active": bool(self.used_parameters),
        }


class ConnectionFilter(InputFilter):
    title = "connection id"
    inputs = (("connection", "Connection id", "text"),)

    def queryset(self, request, queryset):
        if "connection" in self.used_parameters:
            return queryset.filter(connection_id=self.used_parameters["connection"])
        return queryset


class CreatedFilter(InputFilter):
    title = "time range (UTC)"
    inputs = (("since", "From", "datetime-local"), ("until", "To", "datetime-local"))

    def queryset(self, request, queryset):
        for name, lookup in (("since", "created__gte"), ("until", "created__lt")):
            moment = _moment(self.used_parameters.get(name, ""))
            if moment is not None:
                queryset = queryset.filter(**{lookup: moment})
        return queryset


def _moment(value: str):
    try:
        moment = parse_datetime(value)
    except ValueError:
        return None
    if moment is not None and is_naive(moment):
        moment = make_aware(moment)  # the admin's time zone: UTC
    return moment


def retry_all(executions) -> tuple[list[Execution], list[str]]:
    made, refused = [], []
    for execution in executions:
        try:
            made.append(execution.retry())
        except RetryRefused as exc:
            refused.append(f"{execution.code}: {exc.message}")
    return made, refused


STATUS_COLORS = {
    Status.QUEUED: "#6b7280",
    Status.RUNNING: "#2563eb",
    Status.SUCCEEDED: "#15803d",
    Status.FAILED: "#b91c1c",
    Status.CANCELLED: "#a16207",
}


def status_badge(status: str):
    color = STATUS_COLORS.get(status, "#6b7280")
    return format_html('<span class="nango-badge" style="background:{}">{}</span>', color, status)


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    list_display = [
        "short_code",
        "action",
        "connection_id",
        "environment_name",
        "status_display",
        "error_display",
        "attempts",
        "duration",
        "created",
    ]
    list_display_links = ["short_code"]
    list_filter = [
        "status",
        "environment",
        IntegrationFilter,
        ActionFilter,
        ConnectionFilter,
        CreatedFilter,
        ModeFilter,
    ]
    search_fields = ["=code", "=connection_id"]
    search_help_text = "An execution id (UUID) or a connection id, exactly."
    ordering = ["-created"]
    list_select_related = ["environment"]
    list_per_page = 100
    paginator = CappedPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = ["retry_selected", "cancel_selected"]
    change_list_template = "admin/executions/execution/change_list.html"
    change_form_template = "admin/executions/execution/change_form.html"

    def get_search_results(self, request, queryset, search_term):
        # Exact and indexed: an execution id (UUID) or a connection id. Django's own
        # "=code" search becomes a LIKE over the whole table on SQLite.
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            code = uuid.UUID(term)
        except ValueError:
            return queryset.filter(connection_id=term), False
        # Connection ids are often UUIDs too.
        return queryset.filter(Q(code=code) | Q(connection_id=term)), False

    def get_changelist(self, request, **kwargs):
        return ExecutionChangeList

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # records are never edited; retry and cancel are "operate"

    def has_delete_permission(self, request, obj=None) -> bool:
        # Records end by retention (RESULT_RETENTION_DAYS); a "delete all" over a filtered
        # million rows would also build a confirmation page listing each of them.
        return False

    def has_operate_permission(self, request) -> bool:
        return request.user.has_perm("executions.change_execution")

    @admin.display(description="Id", ordering="code")
    def short_code(self, obj) -> str:
        return str(obj.code)[:8]

    @admin.display(description="Action", ordering="action_name")
    def action(self, obj) -> str:
        return f"{obj.provider_config_key} / {obj.action_name}"

    @admin.display(description="Environment", ordering="environment__name")
    def environment_name(self, obj) -> str:
        return obj.environment.name

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj):
        return status_badge(obj.status)

    @admin.display(description="Error")
    def error_display(self, obj) -> str:
        return getattr(obj, "error_code", None) or ""

    @admin.display(description="Duration", ordering="duration_ms")
    def duration(self, obj) -> str:
        return _ms(obj.duration_ms)

    @admin.action(description="Retry the selected failed runs", permissions=["operate"])
    def retry_selected(self, request, queryset) -> None:
        failed = queryset.filter(status=Status.FAILED).order_by()
        ids = list(failed.values_list("pk", flat=True)[: BULK_RETRY_LIMIT + 1])
        rows = Execution.objects.filter(pk__in=ids[:BULK_RETRY_LIMIT]).select_related(
            "connection_record", "environment"
        )
        made, refused = retry_all(rows.order_by("created"))
        for new in made:
            self.log_addition(request, new, "Retried from the list.")
        if made:
            messages.success(request, f"Queued {len(made)} retries.")
        if len(ids) > BULK_RETRY_LIMIT:
            messages.warning(
                request, f"Retried the first {BULK_RETRY_LIMIT}; run the action again for more."
            )
        if refused:
            shown = "; ".join(refused[:5]) + (" …" if len(refused) > 5 else "")
            messages.error(request, f"{len(refused)} not retried: {shown}")
        if not made and not refused:
            messages.info(request, "None of the selected runs had failed.")

    @admin.action(description="Cancel the selected queued or running runs", permissions=["operate"])
    def cancel_selected(self, request, queryset) -> None:
        live = queryset.filter(status__in=[Status.QUEUED, Status.RUNNING]).order_by()
        done = sum(Execution(pk=pk).cancel() for pk in live.values_list("pk", flat=True)[:1000])
        messages.success(request, f"Cancelled or asked to stop {done} runs.")

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("dashboard/", view(self.dashboard_view), name="executions_dashboard"),
            path("<int:pk>/retry/", view(self.retry_view), name="executions_execution_retry"),
            path("<int:pk>/cancel/", view(self.cancel_view), name="executions_execution_cancel"),
            *super().get_urls(),
        ]

    def dashboard_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return dashboard.view(request, self)

    def _operate(self, request, pk: int) -> Execution:
        if request.method != "POST":
            raise _NotPost
        if not self.has_operate_permission(request):
            raise PermissionDenied
        return get_object_or_404(
            Execution.objects.select_related("connection_record", "environment"), pk=pk
        )

    def retry_view(self, request, pk: int):
        try:
            execution = self._operate(request, pk)
        except _NotPost:
            return HttpResponseNotAllowed(["POST"])
        made, refused = retry_all([execution])
        if refused:
            messages.error(request, f"Not retried: {refused[0]}")
            return HttpResponseRedirect(_change_url(execution))
        self.log_addition(request, made[0], f"Retry of {execution.code}.")
        messages.success(request, f"Queued a retry of {execution.code}.")
        return HttpResponseRedirect(_change_url(made[0]))

    def cancel_view(self, request, pk: int):
        try:
            execution = self._operate(request, pk)
        except _NotPost:
            return HttpResponseNotAllowed(["POST"])
        if execution.cancel():
            self.log_change(request, execution, "Cancelled.")
            done = "Cancelled" if execution.is_terminal else "Asked the running process to stop"
            messages.success(request, f"{done} {execution.code}.")
        else:
            messages.error(request, f"Not cancelled: the run is already {execution.status}.")
        return HttpResponseRedirect(_change_url(execution))

    def get_object(self, request, object_id, from_field=None):
        # The detail page loads its row once: change_view() below asks for it first, with
        # what the page shows, and Django's own change view asks again.
        loaded = getattr(request, "_execution", None)
        if loaded is not None and str(loaded.pk) == str(object_id):
            return loaded
        if not str(object_id).isdigit():
            return None
        return (
            Execution.objects.select_related(
                "environment", "connection_record", "function_version__function"
            )
            .filter(pk=object_id)
            .first()
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        try:
            code = uuid.UUID(str(object_id))
        except ValueError:
            pass
        else:
            # An execution's id, as the API and X-Execution-Id give it: its page.
            pk = Execution.objects.filter(code=code).values_list("pk", flat=True).first()
            if pk is not None:
                return HttpResponseRedirect(_change_url(Execution(pk=pk)))
        execution = request._execution = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if execution is not None:
            extra.update(
                detail_context(execution), can_operate=self.has_operate_permission(request)
            )
        return super().change_view(request, object_id, form_url, extra)


class _NotPost(Exception):
    pass


def _change_url(execution: Execution) -> str:
    return reverse("admin:executions_execution_change", args=[execution.pk])


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f} ms" if value < 10_000 else f"{value / 1000:,.1f} s"


def detail_context(e: Execution) -> dict:
    """Everything the detail page shows, rendered server-side."""
    version = e.function_version
    error = (e.error or {}).get("error") if isinstance(e.error, dict) else None
    upstream = error.get("upstream") if isinstance(error, dict) else None
    summary = [
        ("Id", str(e.code)),
        ("Status", status_badge(e.status)),
        ("Action", f"{e.provider_config_key} / {e.action_name}"),
        ("Connection", _connection_link(e)),
        ("Environment", e.environment.name),
        ("Mode", "async" if e.is_async else "sync"),
        ("HTTP status", e.http_status or "—"),
        ("Created", e.created),
        ("Started", e.started or "—"),
        ("Finished", e.finished or "—"),
        ("Duration", _ms(e.duration_ms)),
        ("Attempts", f"{e.attempts} of at most {e.max_retries + 1}"),
    ]
    if version is not None:
        url = reverse("admin:integrations_functionversion_change", args=[version.pk])
        label = f"#{version.number} {version.version}".strip()
        summary.append(("Function version", format_html('<a href="{}">{}</a>', url, label)))
    if e.parent_id is not None:
        parent = Execution.objects.filter(pk=e.parent_id).values("pk", "action_name").first()
        if parent:
            url = reverse("admin:executions_execution_change", args=[parent["pk"]])
            summary.append(
                ("Triggered by", format_html('<a href="{}">{}</a>', url, parent["action_name"]))
            )
    children = e.children.order_by("created", "pk").values_list("pk", "action_name", "status")
    if links := [
        (reverse("admin:executions_execution_change", args=[pk]), name, status)
        for pk, name, status in children[:50]
    ]:
        summary.append(("Triggered", format_html_join(", ", '<a href="{}">{}</a> ({})', links)))
    if e.status == Status.QUEUED and e.next_attempt_at:
        summary.append(("Next attempt at", e.next_attempt_at))
    if e.cancel_requested:
        summary.append(("Cancel requested", "yes"))
    if e.idempotency_key:
        summary.append(("Idempotency key", e.idempotency_key))
    return {
        "execution": e,
        "summary": summary,
        "input_html": json_html(e.input),
        "output_html": json_html(e.output) if e.status == Status.SUCCEEDED else None,
        "error_code": error.get("code") if isinstance(error, dict) else None,
        "error_message": error.get("message") if isinstance(error, dict) else None,
        "error_html": json_html(e.error) if e.error else None,
        "upstream": upstream if isinstance(upstream, dict) else None,
        "upstream_body_html": json_html(upstream.get("body"))
        if isinstance(upstream, dict)
        else None,
        "attempt_rows": [
            {
                **a,
                "duration": _ms(a.get("duration_ms")),
                "error_code": (a.get("error") or {}).get("code"),
            }
            for a in e.attempt_log
            if isinstance(a, dict)
        ],
        "log_rows": [line for line in e.logs if isinstance(line, dict)],
        "call_rows": [
            {**c, "duration": _ms(c.get("duration_ms"))}
            for c in e.provider_calls
            if isinstance(c, dict)
        ],
        "is_live": e.status not in TERMINAL,
        "deliveries": _deliveries(e),
    }


def _connection_link(e: Execution):
    if e.connection_record_id is None:
        return f"{e.connection_id} (deleted)"
    url = reverse("admin:integrations_connection_change", args=[e.connection_record_id])
    return format_html('<a href="{}">{}</a>', url, e.connection_id)


def _deliveries(e: Execution) -> list[dict] | None:
    """The run's webhook deliveries (newest last), each with its admin link."""
    related = getattr(e, "webhook_deliveries", None)
    if related is None:
        return None
    rows = []
    for d in related.order_by("pk")[:50]:
        try:
            url = reverse("admin:webhooks_delivery_change", args=[d.pk])
        except NoReverseMatch:
            url = ""
        rows.append({"delivery": d, "admin_url": url, "latency": _ms(d.last_latency_ms)})
    return rows


@admin.register(Lock)
class LockAdmin(admin.ModelAdmin):
    """Locks functions hold (`nango.try_acquire_lock`), read-only: a run releases its own
    when it ends, and an expired one is free for the next run that asks."""

    list_display = ["key", "environment", "execution_link", "acquired", "expires"]
    list_filter = ["environment"]
    list_select_related = ["environment"]
    search_fields = ["key"]
    fields = ["key", "environment", "execution_link", "acquired", "expires"]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Held by")
    def execution_link(self, obj):
        if obj.execution_id is None:
            return "a dry run"
        url = reverse("admin:executions_execution_change", args=[obj.execution_id])
        return format_html('<a href="{}">execution {}</a>', url, obj.execution_id)
