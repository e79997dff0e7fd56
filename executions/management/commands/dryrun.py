from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from executions.dryrun import dry_run
from integrations.functions import Tree
from integrations.models import Environment
from nango.cli import parse_input
from nango.report import dryrun_lines, failure_text
from nango.tree import write_fixture
from nangosite.lib.errors import DomainError


class Command(BaseCommand):
    help = "Run an action from the working tree against a real connection, storing nothing."

    def add_arguments(self, parser):
        parser.add_argument("action")
        parser.add_argument("connection_id")
        parser.add_argument("-e", "--environment", required=True)
        parser.add_argument("-i", "--input", default=None, help="JSON, or @file.json")
        parser.add_argument("--integration", default="")
        parser.add_argument("--validation", "--validate", action="store_true")
        parser.add_argument(
            "--save", action="store_true", help="Record the provider calls as a test fixture"
        )

    def handle(self, action, connection_id, environment, input, integration, validation, save, **o):
        try:
            env = Environment.objects.get(name=environment)
        except Environment.DoesNotExist:
            raise CommandError(f"no environment named {environment!r}") from None
        root = settings.FUNCTIONS_DIR
        try:
            value = parse_input(input)
            run = dry_run(
                env,
                Tree.from_disk(root),
                action,
                connection_id,
                value,
                integration,
                validation,
                save,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        except DomainError as exc:
            problems = [e["message"] for e in exc.extra.get("errors", [])]
            raise CommandError("\n".join([exc.message, *problems])) from None
        answer = run.to_api()
        out, warnings = dryrun_lines(answer)
        for warning in warnings:
            self.stderr.write(warning)
        for line in out:
            self.stdout.write(line)
        if not answer["ok"]:
            raise CommandError(failure_text(answer))
        if save:
            path = write_fixture(root, run.integration, run.stem, answer["fixture"])
            self.stdout.write(f"saved {path}")
        self.stdout.write(f"ran in {answer['duration_ms']:.0f} ms")
