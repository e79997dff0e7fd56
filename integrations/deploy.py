"""Deploying a function tree to an environment: all of a batch, or none of it.

`manage.py deploy` (a folder) and `POST /functions/deploy` (files a client posted, e.g. the
`nango` CLI) both call `deploy()`: the same checks, the same messages with file and line,
the same table of changes.
"""

from dataclasses import asdict, dataclass, field

from django.db import transaction
from django.db.models import Max
from django.utils.timezone import now

from integrations.functions import FunctionFileError, Loaded, Tree, load_file
from integrations.models import Environment, Function, FunctionVersion, Integration, Via
from integrations.versions import forget_live
from nangosite.lib.errors import DomainError

# Outcomes of a deploy, per function, in the order the table counts them.
OUTCOMES = ("created", "updated", "unchanged", "restored", "pinned", "not_in_tree", "disabled")


@dataclass
class Change:
    integration: str
    name: str
    # created | updated | unchanged | restored (enabled again, back in the tree) |
    # pinned (left alone: a rollback pinned it) | not_in_tree | disabled (pruned)
    outcome: str
    version: str = ""
    number: int | None = None
    # The helper modules versioned with it.
    modules: list[str] = field(default_factory=list)

    def to_api(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Provenance:
    """Who or what deploys: stored on each version it makes."""

    via: str = Via.COMMAND
    by: str = ""
    commit: str = ""


class DeployError(DomainError):
    """The batch was refused; `problems` lists every reason, one line each with its file
    and line."""

    code = "invalid_functions"

    def __init__(self, problems: list[FunctionFileError | str]):
        self.problems = [str(p) for p in problems]
        errors = [
            {
                "code": "invalid_function",
                "message": str(p),
                "path": [p.path] if isinstance(p, FunctionFileError) else [],
                **({"line": p.line} if isinstance(p, FunctionFileError) else {}),
            }
            for p in problems
        ]
        count = len(problems)
        super().__init__(
            f"Nothing was deployed: {count} problem{'s' if count > 1 else ''} "
            "in the function files",
            errors=errors,
        )

    def __str__(self) -> str:
        return "\n".join([self.message, *self.problems])


def deploy(
    env: Environment,
    tree: Tree,
    *,
    integration: str = "",
    action: str = "",
    prune: bool = False,
    dry_run: bool = False,
    provenance: Provenance | None = None,
) -> list[Change]:
    """Check every action of `tree` in the scope (one integration, one action, or all),
    store each changed one as a new version, and list the functions of the scope that are
    no longer in the tree (disabled, never deleted, with `prune`). `dry_run` checks and
    lists the same without storing anything."""
    files = tree.actions(integration, action)
    if not files:
        scope = " ".join(filter(None, [integration and f"integration {integration!r}", action]))
        raise DeployError([f"no function files {f'match {scope}' if scope else 'found'}"])
    problems, loaded = [], []
    integrations = {i.unique_key: i for i in Integration.objects.filter(environment=env)}
    for file in files:
        try:
            found = load_file(file, tree)
        except FunctionFileError as exc:
            problems.append(exc)
            continue
        if file.integration not in integrations:
            problems.append(
                FunctionFileError(
                    file.filename,
                    1,
                    f"integration {file.integration!r} does not exist in environment "
                    f"{env.name!r}; create it first (POST /integrations)",
                )
            )
            continue
        loaded.append((found, integrations[file.integration]))
    if problems:
        raise DeployError(problems)
    provenance = provenance or Provenance()
    with transaction.atomic():
        changes = [_deploy_one(found, row, provenance) for found, row in loaded]
        if not action:  # a deploy of one action says nothing of the others
            changes += _absent(env, files, integration, prune)
        if dry_run:
            transaction.set_rollback(True)
    if not dry_run:
        for change in changes:
            if change.outcome not in ("unchanged", "pinned", "not_in_tree"):
                forget_live(env.pk, change.integration, change.name)
    return changes


def _deploy_one(found: Loaded, integration: Integration, provenance: Provenance) -> Change:
    file, action = found.file, found.action
    function, _ = Function.objects.get_or_create(
        integration=integration, name=file.name, type=Function.Type.ACTION
    )
    current = (
        FunctionVersion.objects.select_for_update()
        .defer("source", "modules")
        .filter(function=function, active=True)
        .first()
    )
    modules = sorted(found.modules)
    if function.pinned and current is not None:
        return Change(file.integration, file.name, "pinned", current.version, current.number)
    restored = function.pruned_at is not None
    if restored:
        function.enabled, function.pruned_at = True, None
        function.save(update_fields=["enabled", "pruned_at"])
    checksum = found.checksum
    if current is not None and current.checksum == checksum:
        outcome = "restored" if restored else "unchanged"
        return Change(
            file.integration, file.name, outcome, current.version, current.number, modules
        )
    last = function.versions.aggregate(n=Max("number"))["n"] or 0
    function.versions.filter(active=True).update(active=False)
    moment = now()
    version = FunctionVersion.objects.create(
        function=function,
        number=last + 1,
        version=action.version or str(last + 1),
        description=action.description,
        input_schema=action.input,
        output_schema=action.output,
        timeout_seconds=action.timeout,
        source=file.source,
        filename=file.filename,
        modules=found.modules,
        checksum=checksum,
        deployed_at=moment,
        deployed_via=provenance.via,
        deployed_by=provenance.by[:255],
        commit=provenance.commit[:64],
        live_since=moment,
        active=True,
    )
    outcome = "created" if current is None else "restored" if restored else "updated"
    return Change(file.integration, file.name, outcome, version.version, version.number, modules)


def _absent(env: Environment, files: list, integration: str, prune: bool) -> list[Change]:
    """The enabled functions of the scope that the tree no longer has; disabled if `prune`."""
    present = {(f.integration, f.name) for f in files}
    rows = Function.objects.filter(
        integration__environment=env, enabled=True, type=Function.Type.ACTION
    ).select_related("integration")
    if integration:
        rows = rows.filter(integration__unique_key=integration)
    changes = []
    for function in rows.order_by("integration__unique_key", "name"):
        if (function.integration.unique_key, function.name) in present:
            continue
        live = function.versions.defer("source", "modules").filter(active=True).first()
        if prune:
            function.enabled, function.pruned_at = False, now()
            function.save(update_fields=["enabled", "pruned_at"])
        changes.append(
            Change(
                function.integration.unique_key,
                function.name,
                "disabled" if prune else "not_in_tree",
                live.version if live else "",
                live.number if live else None,
            )
        )
    return changes


def report(env: Environment, changes: list[Change], dry_run: bool = False) -> dict:
    """The deploy's answer, as the API sends it and `nango.report` prints it."""
    return {
        "environment": env.name,
        "dry_run": dry_run,
        "changes": [c.to_api() for c in changes],
        "summary": {o: sum(c.outcome == o for c in changes) for o in OUTCOMES},
    }
