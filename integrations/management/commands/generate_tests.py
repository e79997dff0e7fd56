from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from nango.testing import generate_tests


class Command(BaseCommand):
    help = (
        "Write a pytest module per integration that replays the fixtures `dryrun --save` "
        "recorded (as `nango generate-tests` does)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--integration", default="", help="Only this integration")
        parser.add_argument("--dir", default="", help="Functions folder (default FUNCTIONS_DIR)")

    def handle(self, integration, dir, **options):
        root = Path(dir) if dir else settings.FUNCTIONS_DIR
        written = generate_tests(root, integration) if root.is_dir() else []
        if not written:
            raise CommandError(
                f"no fixtures under {root}/*/tests/ (record some with dryrun --save)"
            )
        for path in written:
            self.stdout.write(f"wrote {path}")
