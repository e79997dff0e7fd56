import uuid

from django.core.management.base import BaseCommand, CommandError

from webhooks.models import Delivery


class Command(BaseCommand):
    help = "Send a webhook delivery again, as a new delivery (by its id or its code)."

    def add_arguments(self, parser):
        parser.add_argument("delivery", nargs="+", help="delivery id (number) or code (UUID)")

    def handle(self, delivery, **options):
        for ref in delivery:
            original = self.find(ref)
            copy = original.resend()
            self.stdout.write(f"delivery {original.pk} resent as delivery {copy.pk} to {copy.url}")

    def find(self, ref: str) -> Delivery:
        try:
            lookup = {"pk": int(ref)} if ref.isdigit() else {"code": uuid.UUID(ref)}
            return Delivery.objects.get(**lookup)
        except (ValueError, Delivery.DoesNotExist):
            raise CommandError(f"no delivery {ref!r}") from None
