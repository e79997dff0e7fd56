from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from integrations.models import Environment


class Command(BaseCommand):
    help = "Create an environment and print its secret key and webhook signing key (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--secret-key", default="", help="Use this secret key (default: new)")
        parser.add_argument("--webhook-signing-key", default="")

    def handle(self, name, secret_key, webhook_signing_key, **options):
        if Environment.objects.filter(name=name).exists():
            raise CommandError(f"environment {name!r} already exists")
        if secret_key and Environment.objects.by_secret_key(secret_key):
            raise CommandError("that secret key is already in use")
        try:
            env, secret, signing = Environment.create_with_keys(
                name, secret_key, webhook_signing_key
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(f"environment: {env.name}")
        self.stdout.write(f"secret key: {secret}")
        self.stdout.write(f"webhook signing key: {signing}")
        self.stdout.write("Store both now: they are not shown again.")
