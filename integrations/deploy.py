"""Deploying function files: all of a batch, or none of it."""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max
from django.utils.timezone import now

from integrations.functions import FunctionFile, FunctionFileError, load_action
from integrations.models import Environment, Function, FunctionVersion, Integration


@dataclass
class Change:
    integration: str
    name: str
    outcome: str  # "created" | "updated" | "unchanged"
    version: str
    number: int


class DeployError(Exception):
    """The batch was refused; `problems` lists every reason, one line each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def deploy(env: Environment, files: list[FunctionFile]) -> list[Change]:
    if not files:
        raise DeployError(["no function files found"])
    problems, loaded = [], []
    integrations = {i.unique_key: i for i in Integration.objects.filter(environment=env)}
    for file in files:
        try:
            action = load_action(file.source, file.filename)
        except FunctionFileError as exc:
            problems.append(str(exc))
            continue
        if file.integration not in integrations:
            problems.append(
                f"{file.filename}:1: integration {file.integration!r} does not exist in "
                f"environment {env.name!r}; create it first (POST /integrations)"
            )
            continue
        loaded.append((file, action, integrations[file.integration]))
    if problems:
        raise DeployError(problems)
    with transaction.atomic():
        return [_deploy_one(file, action, integration) for file, action, integration in loaded]


def _deploy_one(file: FunctionFile, action, integration: Integration) -> Change:
    function, created = Function.objects.get_or_create(
        integration=integration, name=file.name, type=Function.Type.ACTION
    )
    current = (
        FunctionVersion.objects.select_for_update().filter(function=function, active=True).first()
    )
    if current is not None and current.checksum == file.checksum:
        return Change(file.integration, file.name, "unchanged", current.version, current.number)
    last = function.versions.aggregate(n=Max("number"))["n"] or 0
    function.versions.filter(active=True).update(active=False)
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
        checksum=file.checksum,
        deployed_at=now(),
        active=True,
    )
    outcome = "created" if current is None else "updated"
    return Change(file.integration, file.name, outcome, version.version, version.number)
