"""Staff admin for environments, integrations, connections and deployed functions.

Secrets are write-only here: secret keys and webhook signing keys are shown once, on the
page that made them; credentials, client secrets and variable values can be replaced but
are never rendered back (not in forms, lists, history or error pages).
"""

import uuid

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.timezone import now

from executions.models import Execution, Status
from integrations.credentials import credential_errors
from integrations.models import (
    CONNECTION_ID_PATTERN,
    KEY_PATTERN,
    Connection,
    Environment,
    EnvironmentVariable,
    Function,
    Integration,
)
from nangosite.lib import storable
from nangosite.lib.crypto import new_token

SECRET_HELP = "Write-only: never shown again. Leave empty to keep the current value."


class WriteOnlyInput(forms.PasswordInput):
    """Never renders a value, not even the one just typed into a form that had errors."""

    def __init__(self, attrs=None):
        super().__init__({"autocomplete": "new-password", **(attrs or {})}, render_value=False)


class WriteOnlyTextarea(forms.Textarea):
    def format_value(self, value):
        return None


def ends_with(hint: str) -> str:
    return f"…{hint}" if hint else "—"


def never_stored(response):
    # Pages that show a key once must not be kept by the browser or a proxy.
    response["Cache-Control"] = "no-store"
    return response


# Environments


class VariableForm(forms.ModelForm):
    new_value = forms.CharField(
        label="Value", required=False, strip=False, widget=WriteOnlyInput, help_text=SECRET_HELP
    )

    class Meta:
        model = EnvironmentVariable
        fields = ["environment", "name"]

    def clean(self):
        data = super().clean()
        if not self.instance.pk and not data.get("new_value") and data.get("name"):
            self.add_error("new_value", "A new variable needs a value.")
        return data

    def save(self, commit: bool = True):
        if self.cleaned_data.get("new_value"):
            self.instance.value = self.cleaned_data["new_value"]
        return super().save(commit)


class VariableInline(admin.TabularInline):
    model = EnvironmentVariable
    form = VariableForm
    fields = ["name", "masked_value", "new_value"]
    readonly_fields = ["masked_value"]
    extra = 0

    @admin.display(description="Current value")
    def masked_value(self, obj) -> str:
        return "••••••••" if obj.pk else "—"


class EnvironmentForm(forms.ModelForm):
    class Meta:
        model = Environment
        fields = [
            "name",
            "webhook_primary_url",
            "webhook_secondary_url",
            "send_async_action_webhooks",
            "action_concurrency",
            "trigger_rate_limit",
            "max_queued_runs",
        ]


KEYS = {
    "secret-key": ("secret key", "rotate_secret_key"),
    "webhook-signing-key": ("webhook signing key", "rotate_webhook_signing_key"),
}


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    form = EnvironmentForm
    list_display = [
        "name",
        "secret_key_ends",
        "webhooks",
        "send_async_action_webhooks",
        "action_concurrency",
        "created",
    ]
    search_fields = ["name"]
    readonly_fields = ["secret_key_ends", "signing_key_state", "created"]
    inlines = [VariableInline]
    change_form_template = "admin/integrations/environment/change_form.html"

    def get_fieldsets(self, request, obj=None):
        main = ["name", "action_concurrency"]
        if obj is not None:
            main += ["secret_key_ends", "signing_key_state", "created"]
        hooks = ["webhook_primary_url", "webhook_secondary_url", "send_async_action_webhooks"]
        limits = ["trigger_rate_limit", "max_queued_runs"]
        return [
            (None, {"fields": main}),
            ("Limits", {"fields": limits}),
            ("Webhooks", {"fields": hooks}),
        ]

    @admin.display(description="Secret key")
    def secret_key_ends(self, obj) -> str:
        return ends_with(obj.secret_key_hint)

    @admin.display(description="Webhook signing key")
    def signing_key_state(self, obj) -> str:
        return "set (shown only when made)" if obj.webhook_signing_key else "—"

    @admin.display(description="Webhook URLs")
    def webhooks(self, obj) -> int:
        return sum(bool(u) for u in (obj.webhook_primary_url, obj.webhook_secondary_url))

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            # Both keys are made here and shown once, by response_add.
            secret = str(uuid.uuid4())
            obj.set_secret_key(secret)
            obj.webhook_signing_key = new_token()
            request._new_keys = {
                "secret key": secret,
                "webhook signing key": obj.webhook_signing_key,
            }
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        keys = getattr(request, "_new_keys", None)
        if keys is None:
            return super().response_add(request, obj, post_url_continue)
        return self.keys_page(request, obj, keys, f"Environment “{obj}” was created.")

    def keys_page(self, request, obj, keys: dict, headline: str):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            "title": headline,
            "keys": keys,
        }
        response = TemplateResponse(
            request, "admin/integrations/environment/keys_shown.html", context
        )
        return never_stored(response)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/rotate/<str:which>/", view(self.rotate_view), name="environment_rotate"),
            *super().get_urls(),
        ]

    def rotate_view(self, request, pk: int, which: str):
        env = get_object_or_404(Environment, pk=pk)
        if which not in KEYS:
            raise Http404
        if not self.has_change_permission(request, env):
            raise PermissionDenied
        label, method = KEYS[which]
        if request.method != "POST":
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": env,
                "title": f"Rotate the {label} of “{env}”?",
                "label": label,
            }
            return TemplateResponse(
                request, "admin/integrations/environment/rotate_confirm.html", context
            )
        key = getattr(env, method)()
        self.log_change(request, env, f"Rotated the {label}.")
        return self.keys_page(request, env, {label: key}, f"The {label} of “{env}” was rotated.")


@admin.register(EnvironmentVariable)
class EnvironmentVariableAdmin(admin.ModelAdmin):
    form = VariableForm
    list_display = ["name", "environment", "masked"]
    list_filter = ["environment"]
    list_select_related = ["environment"]
    search_fields = ["name"]
    fields = ["environment", "name", "new_value"]

    @admin.display(description="Value")
    def masked(self, obj) -> str:
        return "••••••••"


# Integrations and connections


class IntegrationForm(forms.ModelForm):
    unique_key = forms.RegexField(
        KEY_PATTERN, max_length=255, help_text="The Provider-Config-Key callers send."
    )
    new_client_secret = forms.CharField(
        label="OAuth client secret",
        required=False,
        strip=False,
        widget=WriteOnlyInput,
        help_text=SECRET_HELP,
    )

    class Meta:
        model = Integration
        fields = [
            "environment",
            "unique_key",
            "provider",
            "display_name",
            "oauth_client_id",
            "oauth_scopes",
            "authorization_url",
            "token_url",
        ]

    def save(self, commit: bool = True):
        if self.cleaned_data.get("new_client_secret"):
            self.instance.oauth_client_secret = self.cleaned_data["new_client_secret"]
        self.instance.updated = now()
        return super().save(commit)


def executions_url(**params) -> str:
    return reverse("admin:executions_execution_changelist") + "?" + urlencode(params)


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    form = IntegrationForm
    list_display = [
        "unique_key",
        "provider_name",
        "environment",
        "connection_count",
        "function_count",
        "client_secret_state",
        "created",
    ]
    list_filter = ["environment", "provider"]
    list_select_related = ["environment"]
    search_fields = ["unique_key", "display_name"]
    readonly_fields = ["client_secret_state", "created", "updated"]

    def get_fields(self, request, obj=None):
        fields = ["environment", "unique_key", "provider", "display_name"]
        fields += ["oauth_client_id", "client_secret_state", "new_client_secret", "oauth_scopes"]
        fields += ["authorization_url", "token_url"]
        return fields + (["created", "updated"] if obj else [])

    def get_readonly_fields(self, request, obj=None):
        # The environment of an existing integration is part of its identity.
        return [*self.readonly_fields, *(["environment"] if obj else [])]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_connections=_count(Connection, "integration"),
                n_functions=_count(Function, "integration"),
            )
        )

    @admin.display(description="Provider", ordering="provider")
    def provider_name(self, obj) -> str:
        return obj.catalog.display_name

    @admin.display(description="Connections", ordering="n_connections")
    def connection_count(self, obj) -> int:
        return obj.n_connections

    @admin.display(description="Functions", ordering="n_functions")
    def function_count(self, obj) -> int:
        return obj.n_functions

    @admin.display(description="Client secret")
    def client_secret_state(self, obj) -> str:
        return "set" if obj.oauth_client_secret else "—"


def _count(model, field: str):
    """A per-row count as a correlated subquery (indexed FK), not a JOIN + GROUP BY."""
    rows = model.objects.filter(**{field: OuterRef("pk")}).order_by().values(field)
    return Coalesce(
        Subquery(rows.annotate(n=Count("pk")).values("n"), output_field=IntegerField()), 0
    )


class StorableJSONField(forms.JSONField):
    """JSON that can be stored and read back (`nangosite/lib/storable.py`): a NUL, a lone
    surrogate or 1e400 is a form error naming the place, and the text shown back to fix
    it can always be rendered."""

    def validate(self, value) -> None:
        super().validate(value)
        for problem in storable.problems(value)[:1]:
            where = "/".join(str(p) for p in problem["path"]) or "the value"
            raise forms.ValidationError(f"{problem['message']} ({where})", code="unstorable")

    def prepare_value(self, value) -> str:
        return storable.clean_text(super().prepare_value(value))


class ConnectionForm(forms.ModelForm):
    connection_id = forms.RegexField(CONNECTION_ID_PATTERN, max_length=255)
    new_credentials = StorableJSONField(
        label="Credentials",
        required=False,
        widget=WriteOnlyTextarea(
            {"rows": 4, "placeholder": '{"type": "OAUTH2", "access_token": "…"}'}
        ),
        help_text="JSON, as POST /connections takes it. " + SECRET_HELP,
    )

    class Meta:
        model = Connection
        widgets = {
            name: forms.Textarea({"rows": 3, "cols": 80, "class": "nango-json"})
            for name in ("metadata", "tags", "connection_config")
        }
        field_classes = {
            name: StorableJSONField for name in ("metadata", "tags", "connection_config")
        }
        fields = [
            "integration",
            "connection_id",
            "metadata",
            "tags",
            "connection_config",
            "webhook_url_override",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["new_credentials"].label = "Replace credentials"

    def clean(self):
        data = super().clean()
        integration = data.get("integration") or getattr(self.instance, "integration", None)
        for name in ("metadata", "tags", "connection_config"):
            if name in data and not isinstance(data[name], dict):
                self.add_error(name, "Must be a JSON object.")
        tags = data.get("tags")
        if isinstance(tags, dict) and (
            len(tags) > 10 or not all(isinstance(v, str) for v in tags.values())
        ):
            self.add_error("tags", "At most 10 tags, each a string.")
        creds = data.get("new_credentials")
        if creds in (None, "") and not self.instance.pk:
            self.add_error("new_credentials", "A new connection needs credentials.")
        if integration is None:
            return data
        provider = integration.catalog
        if creds not in (None, ""):
            # These messages name keys, never values.
            for problem in credential_errors(creds, provider.auth_mode):
                self.add_error("new_credentials", problem)
        config = data.get("connection_config")
        if isinstance(config, dict):
            for key in provider.connection_config:
                if not config.get(key):
                    self.add_error("connection_config", f"{key} is required for {provider.name}")
        return data

    def save(self, commit: bool = True):
        if self.cleaned_data.get("new_credentials") not in (None, ""):
            self.instance.set_credentials(self.cleaned_data["new_credentials"])
            self.instance.created_via = Connection.Via.ADMIN
        self.instance.updated = now()
        return super().save(commit)


class RefreshFilter(admin.SimpleListFilter):
    title = "token refresh"
    parameter_name = "refresh"

    def lookups(self, request, model_admin):
        return [("failing", "failing"), ("ok", "ok")]

    def queryset(self, request, queryset):
        if self.value() == "failing":
            return queryset.filter(refresh_failed_at__isnull=False)
        if self.value() == "ok":
            return queryset.filter(refresh_failed_at__isnull=True)
        return queryset


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionForm
    list_display = [
        "connection_id",
        "integration",
        "environment",
        "runs",
        "last_error",
        "created_via",
        "refresh_state",
        "created",
        "updated",
    ]
    list_filter = ["integration__environment", "integration", "created_via", RefreshFilter]
    list_select_related = ["integration__environment"]
    search_fields = ["=connection_id", "=end_user__end_user_id"]
    readonly_fields = [
        "credentials_state",
        "created_via",
        "end_user",
        "last_refreshed",
        "refresh_state",
        "runs",
        "last_error",
    ]

    def get_fieldsets(self, request, obj=None):
        main = ["integration", "connection_id"]
        secret = ["credentials_state", "new_credentials"] if obj else ["new_credentials"]
        data = ["metadata", "tags", "connection_config", "webhook_url_override"]
        sets = [(None, {"fields": main}), ("Credentials", {"fields": secret})]
        sets.append(("Data", {"fields": data}))
        if obj:
            how = ["created_via", "end_user", "last_refreshed", "refresh_state"]
            sets.append(("Origin and token", {"fields": how}))
            sets.append(("Activity", {"fields": ["runs", "last_error"]}))
        return sets

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, *(["integration", "connection_id"] if obj else [])]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "integration":
            # The same Provider-Config-Key exists in several environments.
            field.queryset = field.queryset.select_related("environment")
            field.label_from_instance = lambda i: f"{i.environment.name} / {i.unique_key}"
        return field

    def get_queryset(self, request):
        failed = Execution.objects.filter(connection_record=OuterRef("pk"), status=Status.FAILED)
        last = failed.order_by("-created").values(error_code=KT("error__error__code"))[:1]
        return (
            super()
            .get_queryset(request)
            .defer("credentials")
            .annotate(n_runs=_count(Execution, "connection_record"), last_error_code=Subquery(last))
        )

    @admin.display(description="Environment", ordering="integration__environment__name")
    def environment(self, obj) -> str:
        return obj.integration.environment.name

    @admin.display(description="Token refresh", ordering="refresh_failed_at")
    def refresh_state(self, obj):
        if obj.refresh_failed_at:
            since = f"{obj.refresh_failed_at:%Y-%m-%d %H:%M} UTC"
            return format_html(
                '<strong class="nango-failed">failing since {}</strong>: {}',
                since,
                obj.last_refresh_failure,
            )
        return "ok" if obj.last_refreshed else "—"

    @admin.display(description="Stored credentials")
    def credentials_state(self, obj) -> str:
        expiry = obj.credentials_expires_at
        return "set" + (f", expires {expiry:%Y-%m-%d %H:%M} UTC" if expiry else "")

    def _runs_url(self, obj, **extra) -> str:
        env = obj.integration.environment_id
        return executions_url(
            environment__id__exact=env,
            integration=obj.integration.unique_key,
            connection=obj.connection_id,
            **extra,
        )

    @admin.display(description="Runs", ordering="n_runs")
    def runs(self, obj):
        return format_html('<a href="{}">{}</a>', self._runs_url(obj), obj.n_runs)

    @admin.display(description="Last error")
    def last_error(self, obj):
        if not obj.last_error_code:
            return "—"
        url = self._runs_url(obj, status__exact=Status.FAILED)
        return format_html('<a href="{}">{}</a>', url, obj.last_error_code)


# Functions and their versions live in their own module.
from integrations import admin_functions  # noqa: E402, F401
