from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from integrations.deploy import DeployError, deploy
from integrations.functions import discover
from integrations.models import Environment, Integration


class Command(BaseCommand):
    help = "Check and deploy the action functions of the functions folder to an environment."

    def add_arguments(self, parser):
        parser.add_argument("environment")
        parser.add_argument("--action", default="", help="Deploy only this action")
        parser.add_argument("--integration", default="", help="Deploy only this integration")
        parser.add_argument("--dir", default="", help="Functions folder (default FUNCTIONS_DIR)")

    def handle(self, environment, action, integration, dir, **options):
        try:
            env = Environment.objects.get(name=environment)
        except Environment.DoesNotExist:
            raise CommandError(f"no environment named {environment!r}") from None
        root = Path(dir) if dir else settings.FUNCTIONS_DIR
        files = discover(root, integration=integration, action=action)
        if not files:
            raise CommandError(f"no function files match under {root}")
        if not integration:
            files = self.existing_integrations(env, files)
        try:
            changes = deploy(env, files)
        except DeployError as exc:
            raise CommandError(
                "nothing was deployed:\n" + "\n".join(f"  {p}" for p in exc.problems)
            ) from None
        width = max(len(f"{c.integration}/{c.name}") for c in changes)
        self.stdout.write(f"{'FUNCTION'.ljust(width)}  {'CHANGE':<9}  VERSION")
        for c in changes:
            name = f"{c.integration}/{c.name}".ljust(width)
            self.stdout.write(f"{name}  {c.outcome:<9}  {c.version} (#{c.number})")
        counts = {
            k: sum(c.outcome == k for c in changes) for k in ("created", "updated", "unchanged")
        }
        self.stdout.write(
            f"{counts['created']} created, {counts['updated']} updated, "
            f"{counts['unchanged']} unchanged in {env.name}"
        )

    def existing_integrations(self, env: Environment, files: list) -> list:
        """The files of integrations that exist in the environment; the others are named
        and left out (a whole tree, such as the examples, usually holds more integrations
        than one environment uses). `--integration` names one: it must exist."""
        existing = set(
            Integration.objects.filter(environment=env).values_list("unique_key", flat=True)
        )
        absent = sorted({f.integration for f in files} - existing)
        if absent and len(absent) == len({f.integration for f in files}):
            raise CommandError(
                f"none of the integrations of the functions folder exists in {env.name}: "
                f"{', '.join(absent)}; create one first (POST /integrations)"
            )
        for key in absent:
            count = sum(f.integration == key for f in files)
            self.stderr.write(
                f"skipped {key}/ ({count} function{'s' if count > 1 else ''}): no integration "
                f"{key!r} in {env.name} (create it with POST /integrations to deploy them)"
            )
        return [f for f in files if f.integration in existing]
