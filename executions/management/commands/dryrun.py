import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from executions.dryrun import DryRunError, dry_run
from integrations.functions import FunctionFileError
from integrations.models import Environment


def parse_input(value: str | None) -> object:
    if value is None:
        return None
    if value.startswith("@"):
        try:
            value = Path(value[1:]).read_text()
        except OSError as exc:
            raise CommandError(f"cannot read input file: {exc}") from None
    try:
        return json.loads(value)
    except ValueError:
        # Nango's CLI passes a non-JSON string input as the string itself.
        return value


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
        try:
            run = dry_run(
                env, action, connection_id, parse_input(input), integration, validation, save
            )
        except (DryRunError, FunctionFileError) as exc:
            raise CommandError(str(exc)) from None
        out = run.run
        for warning in run.warnings:
            self.stderr.write(f"warning: {warning} (use --validation to enforce)")
        for line in out.recorder.logs:
            self.stdout.write(f"[{line['level']}] {line['message']}")
        for call in out.recorder.calls:
            self.stdout.write(
                f"-> {call['method']} {call['url']} {call['status'] or call.get('error', '')} "
                f"{call['duration_ms']}ms"
            )
        if not out.ok:
            raise CommandError(
                f"the action failed (HTTP {out.failure.status}):\n"
                + json.dumps(out.failure.body(), indent=2)
            )
        self.stdout.write(json.dumps(out.output, indent=2))
        if save:
            self.stdout.write(f"saved {run.fixture_path}")
        self.stdout.write(f"ran in {out.duration_ms:.0f} ms")
