from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class IntegrationsConfig(AppConfig):
    name = "integrations"

    def ready(self) -> None:
        checks.register(check_encryption_key, checks.Tags.security)


def check_encryption_key(app_configs, **kwargs) -> list:
    errors = []
    if not settings.DEBUG and not settings.ENCRYPTION_KEY:
        errors.append(
            checks.Error(
                "ENCRYPTION_KEY is not set",
                hint="Set ENCRYPTION_KEY to a Fernet key (python -c 'from cryptography.fernet "
                "import Fernet; print(Fernet.generate_key().decode())'); credentials are "
                "encrypted with it.",
                id="integrations.E001",
            )
        )
    if not settings.DEBUG and settings.SECRET_KEY.startswith("dev-only-"):
        errors.append(checks.Error("SECRET_KEY is the development default", id="integrations.E002"))
    return errors
