"""Staff admin for deployed functions: each action's active version, schemas and source
(highlighted) with its helper modules, every earlier version and who deployed it, a diff
between two versions, enable/disable, make an earlier version live (rollback) and unpin."""

import json
import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from integrations.models import Function, FunctionVersion, Via
from nangosite.lib.pretty import diff_html, json_html, python_html


class VersionInline(admin.TabularInline):
    model = FunctionVersion
    fields = [
        "number_link",
        "version",
        "active",
        "description",
        "helpers",
        "checksum_short",
        "deployed_at",
        "deployed",
        "commit_short",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-number"]
    verbose_name_plural = "Every version (newest first)"

    def get_queryset(self, request):
        return super().get_queryset(request).defer("source")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Helpers")
    def helpers(self, obj) -> str:
        return ", ".join(p.removeprefix("functions/") for p in sorted(obj.modules)) or "—"

    @admin.display(description="Deployed by")
    def deployed(self, obj) -> str:
        return deployer(obj)

    @admin.display(description="Commit")
    def commit_short(self, obj) -> str:
        return short_commit(obj.commit)

    @admin.display(description="#")
    def number_link(self, obj):
        url = reverse("admin:integrations_functionversion_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.number)

    @admin.display(description="Checksum")
    def checksum_short(self, obj) -> str:
        return obj.checksum[:12]


def deployer(version: FunctionVersion) -> str:
    """ "CLI (ci-bot)", "manage.py (alice)"…, and who made it live again if it was."""
    text = version.get_deployed_via_display()
    if version.deployed_by:
        text += f" ({version.deployed_by})"
    if version.made_live_via:
        again = version.get_made_live_via_display()
        who = f" ({version.made_live_by})" if version.made_live_by else ""
        text += f"; made live again via {again}{who} {version.live_since:%Y-%m-%d %H:%M}"
    return text


def short_commit(commit: str) -> str:
    if not commit:
        return "—"
    return commit[:12] + ("+dirty" if commit.endswith("+dirty") else "")


class FunctionForm(forms.ModelForm):
    class Meta:
        model = Function
        fields = ["enabled"]
        help_texts = {"enabled": "A disabled action answers 404 disabled_resource."}


@admin.register(Function)
class FunctionAdmin(admin.ModelAdmin):
    form = FunctionForm
    list_display = [
        "name",
        "integration",
        "environment",
        "enabled",
        "pinned",
        "live_version",
        "description",
        "deployed",
    ]
    list_filter = ["enabled", "pinned", "integration__environment", "integration"]
    list_select_related = ["integration__environment"]
    search_fields = ["name"]
    readonly_fields = [
        "integration",
        "name",
        "type",
        "pinned",
        "live_version",
        "description",
        "input_schema",
        "output_schema",
        "source",
    ]
    fieldsets = [
        (None, {"fields": ["integration", "name", "type", "enabled", "pinned", "live_version"]}),
        ("Active version", {"fields": ["description", "input_schema", "output_schema"]}),
        ("Source", {"fields": ["source"], "classes": ["nango-wide"]}),
    ]
    inlines = [VersionInline]
    actions = ["enable", "disable", "unpin"]
    change_form_template = "admin/integrations/function/change_form.html"

    def has_add_permission(self, request) -> bool:
        return False  # functions arrive by `manage.py deploy`

    def get_queryset(self, request):
        live = FunctionVersion.objects.filter(active=True).defer("source")
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("versions", queryset=live, to_attr="live"))
        )

    def _live(self, obj) -> FunctionVersion | None:
        live = getattr(obj, "live", None)
        if live is None:
            return obj.active_version
        return live[0] if live else None

    @admin.display(description="Environment", ordering="integration__environment__name")
    def environment(self, obj) -> str:
        return obj.integration.environment.name

    @admin.display(description="Active version")
    def live_version(self, obj) -> str:
        v = self._live(obj)
        return f"#{v.number} ({v.version or 'no version string'})" if v else "—"

    @admin.display(description="Deployed")
    def deployed(self, obj):
        v = self._live(obj)
        return v.deployed_at if v else None

    @admin.display(description="Description")
    def description(self, obj) -> str:
        v = self._live(obj)
        return v.description if v else ""

    @admin.display(description="Input schema")
    def input_schema(self, obj):
        v = self._live(obj)
        return json_html(v.input_schema) if v else "—"

    @admin.display(description="Output schema")
    def output_schema(self, obj):
        v = self._live(obj)
        return json_html(v.output_schema) if v else "—"

    @admin.display(description="Source")
    def source(self, obj):
        v = obj.active_version
        return python_html(v.source) if v else "—"

    @admin.action(description="Enable the selected actions", permissions=["change"])
    def enable(self, request, queryset) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable the selected actions", permissions=["change"])
    def disable(self, request, queryset) -> None:
        self._set_enabled(request, queryset, False)

    @admin.action(description="Unpin the selected actions (deploys replace them again)")
    def unpin(self, request, queryset) -> None:
        for function in queryset.filter(pinned=True):
            function.unpin()
            self.log_change(request, function, "Unpinned.")
        messages.success(request, "Unpinned the selected actions.")

    def _set_enabled(self, request, queryset, enabled: bool) -> None:
        word = "Enabled" if enabled else "Disabled"
        for function in queryset.exclude(enabled=enabled):
            function.enabled = enabled
            function.save(update_fields=["enabled"])
            self.log_change(request, function, f"{word}.")
        messages.success(request, f"{word} the selected actions.")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        versions = FunctionVersion.objects.filter(function_id=object_id).order_by("-number")
        numbers = list(versions.values_list("number", flat=True))
        extra = {"version_numbers": numbers, **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/diff/", view(self.diff_view), name="integrations_function_diff"),
            *super().get_urls(),
        ]

    def diff_view(self, request, pk: int):
        function = get_object_or_404(Function.objects.select_related("integration"), pk=pk)
        if not self.has_view_permission(request, function):
            raise PermissionDenied
        versions = {v.number: v for v in function.versions.all()}
        numbers = sorted(versions, reverse=True)
        if not numbers:
            return HttpResponseRedirect(reverse("admin:integrations_function_change", args=[pk]))
        a, b = (_number(request.GET.get(k), numbers) for k in ("a", "b"))
        if a is None or b is None:
            b = numbers[0]
            a = numbers[1] if len(numbers) > 1 else b
        va, vb = versions[a], versions[b]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": function,
            "title": f"Changes of {function} between #{a} and #{b}",
            "numbers": numbers,
            "a": va,
            "b": vb,
            "source_diff": diff_html(va.source, vb.source, f"#{a}", f"#{b}"),
            "module_diffs": [
                (path, diff_html(va.modules.get(path, ""), vb.modules.get(path, ""), "", ""))
                for path in sorted(set(va.modules) | set(vb.modules))
                if va.modules.get(path) != vb.modules.get(path)
            ],
            "schema_diffs": [
                (label, diff_html(_json(getattr(va, name)), _json(getattr(vb, name)), "", ""))
                for name, label in (
                    ("input_schema", "Input schema"),
                    ("output_schema", "Output schema"),
                )
            ],
        }
        return TemplateResponse(request, "admin/integrations/function/diff.html", context)


def _number(value: str | None, numbers: list[int]) -> int | None:
    if value and re.fullmatch(r"\d{1,9}", value) and int(value) in numbers:
        return int(value)
    return None


def _json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


@admin.register(FunctionVersion)
class FunctionVersionAdmin(admin.ModelAdmin):
    """One deployed version, read-only (reached from its function's page)."""

    list_display = ["function", "number", "version", "active", "deployed_at", "deployed_via"]
    list_select_related = ["function__integration"]
    list_filter = ["active", "deployed_via"]
    fields = [
        "function",
        "number",
        "version",
        "active",
        "description",
        "filename",
        "checksum",
        "timeout_seconds",
        "deployed_at",
        "deployed",
        "commit",
        "input_schema_html",
        "output_schema_html",
        "source_html",
        "modules_html",
    ]
    readonly_fields = fields
    change_form_template = "admin/integrations/functionversion/change_form.html"

    def get_model_perms(self, request) -> dict:
        return {}  # not on the index: versions are reached from their function

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Input schema")
    def input_schema_html(self, obj):
        return json_html(obj.input_schema)

    @admin.display(description="Output schema")
    def output_schema_html(self, obj):
        return json_html(obj.output_schema)

    @admin.display(description="Source")
    def source_html(self, obj):
        return python_html(obj.source)

    @admin.display(description="Deployed by")
    def deployed(self, obj) -> str:
        return deployer(obj)

    @admin.display(description="Helper modules (as deployed with it)")
    def modules_html(self, obj):
        if not obj.modules:
            return "—"
        return format_html_join(
            "", "<h3>{}</h3>{}", ((p, python_html(s)) for p, s in sorted(obj.modules.items()))
        )

    def has_rollback_permission(self, request) -> bool:
        return request.user.has_perm("integrations.change_function")

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/make-live/",
                view(self.make_live_view),
                name="integrations_functionversion_make_live",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {"can_make_live": self.has_rollback_permission(request), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra)

    def make_live_view(self, request, pk: int):
        """Roll back: this version becomes the live one, pinned against deploys."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        version = get_object_or_404(
            FunctionVersion.objects.select_related("function__integration").defer("source"),
            pk=pk,
        )
        if not self.has_rollback_permission(request):
            raise PermissionDenied
        function = version.function
        function.roll_back(version.number, via=Via.ADMIN, by=request.user.get_username())
        self.log_change(request, function, f"Made version #{version.number} live.")
        messages.success(
            request,
            f"Version #{version.number} of {function} is live, and pinned: deploys leave "
            "it alone until it is unpinned.",
        )
        return HttpResponseRedirect(
            reverse("admin:integrations_function_change", args=[function.pk])
        )
