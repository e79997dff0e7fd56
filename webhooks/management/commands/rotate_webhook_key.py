from django.core.management.base import BaseCommand, CommandError

from integrations.models import Environment


class Command(BaseCommand):
    help = "Give an environment a new webhook signing key and print it (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("environment", help="environment name")

    def handle(self, environment, **options):
        env = Environment.objects.filter(name=environment).first()
        if env is None:
            raise CommandError(f"no environment {environment!r}")
        key = env.rotate_webhook_signing_key()
        self.stdout.write(f"environment: {env.name}")
        self.stdout.write(f"webhook signing key: {key}")
        self.stdout.write(
            "Store it now: it is not shown again. Webhooks are signed with it from now on, "
            "including retries of earlier ones."
        )
