"""Deployed functions and their versions: which version is live, rolling back and
pinning, and the per-process caches the trigger path reads them through."""

from django.db import models, transaction
from django.db.models import Q
from django.utils.timezone import now

from integrations.errors import ActionDisabled, ActionNotFound, NoEarlierVersion, UnknownVersion
from integrations.functions import (
    Compiled,
    FunctionFileError,
    action_timeout,
    compiled,
    schema_errors,
)
from nangosite.lib.cache import TTLCache


class Via(models.TextChoices):
    """What deployed a version, or made it live again."""

    COMMAND = "command", "manage.py"
    CLI = "cli", "CLI"
    API = "api", "API"
    ADMIN = "admin", "admin"


class Function(models.Model):
    class Type(models.TextChoices):
        ACTION = "action"

    integration = models.ForeignKey(
        "integrations.Integration", models.CASCADE, related_name="functions"
    )
    name = models.CharField(max_length=255)
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.ACTION)
    enabled = models.BooleanField(default=True)
    created = models.DateTimeField(default=now)
    # A rollback pins the version it made live: deploys leave the function alone (and say
    # so) until it is unpinned.
    pinned = models.BooleanField(default=False)
    # Set when `deploy --prune` disabled it for leaving the tree; a deploy that finds it
    # in the tree again enables it again (a function staff disabled stays disabled).
    pruned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "name", "type"], name="unique_function_name"
            )
        ]

    def __str__(self) -> str:
        return f"{self.integration.unique_key}/{self.name}"

    @property
    def active_version(self) -> "FunctionVersion | None":
        return self.versions.filter(active=True).first()

    def roll_back(
        self, to: int | str | None = None, *, pin: bool = True, via: str, by: str = ""
    ) -> "FunctionVersion":
        """Make an earlier version the live one: version number `to`, or the newest one
        declaring the version string `to`, or (None) the one deployed before the live one.
        Pinned unless `pin` is False. Raises UnknownVersion or NoEarlierVersion."""
        with transaction.atomic():
            function = Function.objects.select_for_update().get(pk=self.pk)
            versions = function.versions.defer("source", "modules")
            live = versions.filter(active=True).first()
            target = function._version(versions, to, live)
            if live is None or target.pk != live.pk:
                versions.filter(active=True).update(active=False)
                versions.filter(pk=target.pk).update(
                    active=True, live_since=now(), made_live_via=via, made_live_by=by[:255]
                )
            function.pinned = pin
            function.save(update_fields=["pinned"])
        self.pinned = pin
        forget_live(self.integration.environment_id, self.integration.unique_key, self.name)
        return versions.get(pk=target.pk)

    def _version(self, versions, to: int | str | None, live) -> "FunctionVersion":
        if to is None:
            earlier = versions.filter(number__lt=live.number) if live else versions
            found = earlier.order_by("-number").first()
            if found is None:
                raise NoEarlierVersion()
            return found
        text = str(to).strip().removeprefix("#")
        if text.isdigit() and (found := versions.filter(number=int(text)).first()):
            return found
        found = versions.filter(version=str(to)).order_by("-number").first()
        if found is None:
            raise UnknownVersion(f"{self} has no version {to!r}")
        return found

    def unpin(self) -> None:
        Function.objects.filter(pk=self.pk).update(pinned=False)
        self.pinned = False

    def history_api(self) -> dict:
        """The function and every version, newest first, with which one is live."""
        versions = self.versions.defer("source").order_by("-number")
        return {
            "integration": self.integration.unique_key,
            "name": self.name,
            "enabled": self.enabled,
            "pinned": self.pinned,
            "versions": [v.history_api() for v in versions],
        }


# Live versions by (environment, Provider-Config-Key, action), briefly: resolving them was
# a third of a trigger's cost. A deploy or a disable reaches other processes within
# FUNCTION_CACHE_SECONDS.
_live = TTLCache("FUNCTION_CACHE_SECONDS")
# Versions by id, as queued runs name them; a version's code never changes.
_by_pk = TTLCache("FUNCTION_CACHE_SECONDS")
# Loaded functions by (version id, checksum): a version's code never changes, so a trigger
# does not even fetch the source once it is here (live() and for_run() defer it).
_compiled: dict[tuple[int, str], Compiled] = {}


def forget_live(env_id: int, provider_config_key: str, name: str) -> None:
    """After a deploy or a rollback: this process finds the new live version at once (the
    others within FUNCTION_CACHE_SECONDS)."""
    _live.pop((env_id, provider_config_key, name))


class FunctionVersionQuerySet(models.QuerySet):
    def live(self, env_id: int, provider_config_key: str, name: str) -> "FunctionVersion | None":
        """The active version of an action, with its function and integration, or None."""
        key = (env_id, provider_config_key, name)
        version = _live.get(key)
        if version is not None:
            return version
        version = (
            self.select_related("function__integration")
            .defer("source", "modules")
            .filter(
                function__integration__environment_id=env_id,
                function__integration__unique_key=provider_config_key,
                function__name=name,
                function__type=Function.Type.ACTION,
                active=True,
            )
            .first()
        )
        if version is not None:
            _live.set(key, version)
        return version

    def runnable(self, env_id: int, provider_config_key: str, name: str) -> "FunctionVersion":
        """The live version of an enabled action; else ActionNotFound or ActionDisabled."""
        version = self.live(env_id, provider_config_key, name)
        if version is None:
            raise ActionNotFound()
        return version.check_enabled()

    def for_run(self, pk: int) -> "FunctionVersion | None":
        """A version with its function and integration (source deferred), or None."""
        version = _by_pk.get(pk)
        if version is None:
            version = (
                self.select_related("function__integration")
                .defer("source", "modules")
                .filter(pk=pk)
                .first()
            )
            if version is not None:
                _by_pk.set(pk, version)
        return version


class FunctionVersion(models.Model):
    function = models.ForeignKey(Function, models.CASCADE, related_name="versions")
    # Deploy order (1, 2, 3…); `version` is whatever the file declares.
    number = models.PositiveIntegerField()
    version = models.CharField(max_length=64, blank=True)
    description = models.TextField(blank=True)
    input_schema = models.JSONField(null=True, blank=True)
    output_schema = models.JSONField(null=True, blank=True)
    timeout_seconds = models.FloatField(null=True, blank=True)
    source = models.TextField()
    filename = models.CharField(max_length=512)
    # The helper modules (tree path -> source) the action imports, as they were deployed
    # with it: what the runner imports, never the files on disk.
    modules = models.JSONField(default=dict, blank=True)
    # Of the source and the modules (`integrations.functions.checksum`).
    checksum = models.CharField(max_length=64)
    deployed_at = models.DateTimeField(default=now)
    deployed_via = models.CharField(max_length=16, choices=Via.choices, default=Via.COMMAND)
    # Who deployed it, as far as that is known: the OS user of manage.py, the person or CI
    # job the CLI names.
    deployed_by = models.CharField(max_length=255, blank=True)
    # The git commit of the tree it came from, when the client sent one.
    commit = models.CharField(max_length=64, blank=True)
    active = models.BooleanField(default=True)
    # When it last became live, by its deploy or a rollback; and what made it live again.
    live_since = models.DateTimeField(default=now)
    made_live_via = models.CharField(max_length=16, choices=Via.choices, blank=True)
    made_live_by = models.CharField(max_length=255, blank=True)

    objects = FunctionVersionQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["function", "number"], name="unique_version_number"),
            # At most one version of a function is live.
            models.UniqueConstraint(
                fields=["function"], condition=Q(active=True), name="one_active_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.function} v{self.version or self.number}"

    def effective_timeout(self) -> float:
        return action_timeout(self.timeout_seconds)

    def check_enabled(self) -> "FunctionVersion":
        if not self.function.enabled:
            raise ActionDisabled()
        return self

    def compiled(self) -> Compiled:
        """The loaded function, its helpers and schema validators, cached per process."""
        key = (self.pk, self.checksum)
        found = _compiled.get(key)
        if found is None:
            if len(_compiled) >= 512:
                _compiled.clear()  # old versions pile up in long-lived processes
            deferred = self.get_deferred_fields() & {"source", "modules"}
            if deferred:
                self.refresh_from_db(fields=sorted(deferred))
            found = _compiled[key] = compiled(self.source, self.filename, self.modules)
        return found

    def input_errors(self, input: object) -> list[dict]:
        """The input schema's errors of `input` (none for a function that does not load:
        its run reports that)."""
        try:
            return schema_errors(self.compiled().input_validator, input)
        except FunctionFileError:
            return []

    def history_api(self) -> dict:
        return {
            "number": self.number,
            "version": self.version,
            "live": self.active,
            "description": self.description,
            "checksum": self.checksum,
            "modules": sorted(self.modules or {}),
            "deployed_at": self.deployed_at.isoformat(),
            "deployed_via": self.deployed_via,
            "deployed_by": self.deployed_by,
            "commit": self.commit,
            "live_since": self.live_since.isoformat() if self.active else None,
            "made_live_via": self.made_live_via,
            "made_live_by": self.made_live_by,
        }

    def to_api(self) -> dict:
        return {
            "id": self.function_id,
            "name": self.function.name,
            "type": self.function.type,
            "description": self.description,
            "version": self.version,
            "input": f"ActionInput_{self.function.integration.unique_key}_{self.function.name}",
            "returns": [
                f"ActionOutput_{self.function.integration.unique_key}_{self.function.name}"
            ],
            "json_schema": {"input": self.input_schema, "output": self.output_schema},
            "enabled": self.function.enabled,
            "last_deployed": self.deployed_at.isoformat(),
            "source": "repo",
            "scopes": [],
        }
