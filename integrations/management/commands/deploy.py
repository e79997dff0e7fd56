import getpass
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from integrations.deploy import DeployError, Provenance, deploy, report
from integrations.functions import Tree
from integrations.models import Environment, Integration, Via
from nango.report import deploy_lines, prune_lines
from nango.tree import git_commit


class Command(BaseCommand):
    help = "Check and deploy the action functions of the functions folder to an environment."

    def add_arguments(self, parser):
        parser.add_argument("environment")
        parser.add_argument("--action", default="", help="Deploy only this action")
        parser.add_argument("--integration", default="", help="Deploy only this integration")
        parser.add_argument("--dir", default="", help="Functions folder (default FUNCTIONS_DIR)")
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Disable the functions of the scope that are no longer in the tree",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check and list the changes; store nothing"
        )

    def handle(self, environment, action, integration, dir, prune, dry_run, **options):
        try:
            env = Environment.objects.get(name=environment)
        except Environment.DoesNotExist:
            raise CommandError(f"no environment named {environment!r}") from None
        root = Path(dir) if dir else settings.FUNCTIONS_DIR
        tree = Tree.from_disk(root)
        if not tree.actions(integration, action):
            raise CommandError(f"no function files match under {root}")
        if not integration:
            tree = self.existing_integrations(env, tree, action)
        provenance = Provenance(Via.COMMAND, _user(), git_commit(root) if root.is_dir() else "")
        scope = dict(integration=integration, action=action)
        try:
            changes = deploy(
                env, tree, **scope, prune=prune, dry_run=dry_run, provenance=provenance
            )
        except DeployError as exc:
            raise CommandError(
                "nothing was deployed:\n" + "\n".join(f"  {p}" for p in exc.problems)
            ) from None
        if prune and not dry_run:
            # What was disabled is named first (a deploy is all or nothing).
            for line in prune_lines(report(env, changes)):
                self.stdout.write(line)
        for line in deploy_lines(report(env, changes, dry_run)):
            self.stdout.write(line)

    def existing_integrations(self, env: Environment, tree: Tree, action: str) -> Tree:
        """The files of integrations that exist in the environment; the others are named
        and left out (a whole tree, such as the examples, usually holds more integrations
        than one environment uses). `--integration` names one: it must exist."""
        existing = set(
            Integration.objects.filter(environment=env).values_list("unique_key", flat=True)
        )
        files = tree.actions(action=action)
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
        return tree.without(set(absent))


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        return ""
