from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class WebhooksConfig(AppConfig):
    name = "webhooks"

    def ready(self) -> None:
        checks.register(check_webhook_settings)


def check_webhook_settings(app_configs, **kwargs) -> list:
    errors = []
    if not 1 <= settings.WEBHOOK_MAX_ATTEMPTS <= 100:
        errors.append(
            checks.Error("WEBHOOK_MAX_ATTEMPTS must be between 1 and 100", id="webhooks.E001")
        )
    if settings.WEBHOOK_TIMEOUT_SECONDS <= 0 or settings.WEBHOOK_BACKOFF_BASE_SECONDS < 0:
        errors.append(
            checks.Error(
                "WEBHOOK_TIMEOUT_SECONDS must be positive and WEBHOOK_BACKOFF_BASE_SECONDS "
                "not negative",
                id="webhooks.E002",
            )
        )
    return errors
