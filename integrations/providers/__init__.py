"""The provider catalog: which APIs a connection can talk to, and how.

Modules are imported on first use, so listing a provider costs nothing until it is asked for.
"""

import functools
import importlib

from integrations.providers.base import (
    AuthMode,
    Pagination,
    Provider,
    RateLimit,
    TemplateError,
    render,
)

__all__ = [
    "PROVIDERS",
    "AuthMode",
    "Pagination",
    "Provider",
    "RateLimit",
    "TemplateError",
    "get_provider",
    "provider_choices",
    "render",
]

PROVIDERS: dict[str, str] = {
    "airtable": "integrations.providers.airtable",
    "asana": "integrations.providers.asana",
    "calendly": "integrations.providers.calendly",
    "discord": "integrations.providers.discord",
    "dropbox": "integrations.providers.dropbox",
    "github": "integrations.providers.github",
    "gitlab": "integrations.providers.gitlab",
    "gmail": "integrations.providers.gmail",
    "google-calendar": "integrations.providers.google_calendar",
    "hubspot": "integrations.providers.hubspot",
    "intercom": "integrations.providers.intercom",
    "jira": "integrations.providers.jira",
    "linear": "integrations.providers.linear",
    "mailchimp": "integrations.providers.mailchimp",
    "microsoft": "integrations.providers.microsoft",
    "notion": "integrations.providers.notion",
    "pipedrive": "integrations.providers.pipedrive",
    "salesforce": "integrations.providers.salesforce",
    "sendgrid": "integrations.providers.sendgrid",
    "shopify": "integrations.providers.shopify",
    "slack": "integrations.providers.slack",
    "stripe": "integrations.providers.stripe",
    "trello": "integrations.providers.trello",
    "twilio": "integrations.providers.twilio",
    "zendesk": "integrations.providers.zendesk",
    "zoom": "integrations.providers.zoom",
}


@functools.cache
def get_provider(name: str) -> Provider:
    """The catalog entry for `name`; KeyError when the catalog has no such provider."""
    return importlib.import_module(PROVIDERS[name]).PROVIDER


def provider_choices() -> list[tuple[str, str]]:
    """(name, display name) pairs for a choices field, in the order people read them."""
    providers = (get_provider(name) for name in PROVIDERS)
    return sorted(((p.name, p.display_name) for p in providers), key=lambda c: c[1].casefold())
