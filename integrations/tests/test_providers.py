import base64

import pytest

from integrations.providers import (
    PROVIDERS,
    AuthMode,
    Provider,
    TemplateError,
    get_provider,
    provider_choices,
    render,
)
from integrations.providers.base import PLACEHOLDER

# Realistic values for the connection config keys the catalog uses; any other key gets
# a plain subdomain-like value.
SAMPLE_CONFIG = {
    "instance_url": "https://acme.my.salesforce.com",
    "cloudId": "11223344-a1b2-3b33-c444-def123456789",
    "dc": "us6",
    "subdomain": "acme",
}


def sample_config(provider: Provider) -> dict[str, str]:
    return {key: SAMPLE_CONFIG.get(key, "acme") for key in provider.connection_config}


def all_providers() -> list[Provider]:
    return [get_provider(name) for name in PROVIDERS]


def templates_of(provider: Provider) -> list[str]:
    return [
        provider.base_url,
        provider.authorization_url,
        provider.token_url,
        *provider.headers.values(),
        *provider.query.values(),
    ]


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_it_imports_every_provider_under_its_own_name(name: str) -> None:
    provider = get_provider(name)
    assert isinstance(provider, Provider)
    assert provider.name == name
    assert provider.display_name
    assert provider.docs.startswith("https://")


def test_it_has_at_least_25_providers() -> None:
    assert len(PROVIDERS) >= 25


def test_it_names_modules_after_their_keys() -> None:
    for name, path in PROVIDERS.items():
        assert path == "integrations.providers." + name.replace("-", "_")


def test_it_raises_key_error_for_unknown_providers() -> None:
    with pytest.raises(KeyError):
        get_provider("no-such-provider")


def test_it_caches_provider_imports() -> None:
    assert get_provider("github") is get_provider("github")


def test_it_lists_choices_sorted_by_display_name() -> None:
    choices = provider_choices()
    assert len(choices) == len(PROVIDERS)
    labels = [label for _, label in choices]
    assert labels == sorted(labels, key=str.casefold)
    assert ("microsoft", "Microsoft Graph") in choices


def test_it_gives_every_oauth2_provider_https_oauth_urls() -> None:
    for provider in all_providers():
        if provider.auth_mode != AuthMode.OAUTH2:
            continue
        config = sample_config(provider)
        for url in (provider.authorization_url, provider.token_url):
            assert render(url, {}, config).startswith("https://"), provider.name


def test_it_serves_every_base_url_over_https() -> None:
    for provider in all_providers():
        url = provider.resolve_base_url(sample_config(provider))
        assert url.startswith("https://"), provider.name
        assert "${" not in url


def test_it_declares_every_connection_config_key_it_uses() -> None:
    for provider in all_providers():
        used = {
            alternative.strip().removeprefix("connectionConfig.")
            for template in templates_of(provider)
            for match in PLACEHOLDER.finditer(template)
            for alternative in match.group(1).split("||")
            if alternative.strip().startswith("connectionConfig.")
        }
        assert used <= set(provider.connection_config), provider.name


def test_it_puts_a_credential_in_every_provider_request() -> None:
    for provider in all_providers():
        templates = [*provider.headers.values(), *provider.query.values()]
        assert any(
            marker in template
            for template in templates
            for marker in ("${accessToken", "${apiKey", "${basic", "${credentials.")
        ), provider.name


def test_it_sends_github_oauth_tokens_as_bearer() -> None:
    headers = get_provider("github").auth_headers({"type": "OAUTH2", "access_token": "t"}, {})
    assert headers == {
        "Authorization": "Bearer t",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }


def test_it_builds_the_shopify_base_url_from_the_subdomain() -> None:
    shopify = get_provider("shopify")
    assert shopify.resolve_base_url({"subdomain": "acme"}) == "https://acme.myshopify.com"


def test_it_requires_the_shopify_subdomain() -> None:
    with pytest.raises(TemplateError):
        get_provider("shopify").resolve_base_url({})


def test_it_sends_twilio_credentials_as_basic_auth() -> None:
    credentials = {"type": "BASIC", "username": "AC1", "password": "tok"}
    headers = get_provider("twilio").auth_headers(credentials, {})
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"AC1:tok").decode()


def test_it_sends_trello_key_and_token_as_query_parameters() -> None:
    credentials = {"type": "API_KEY", "apiKey": "k", "token": "t"}
    assert get_provider("trello").auth_query(credentials, {}) == {
        "key": "k",
        "token": "t",
    }


def test_it_raises_template_error_for_a_missing_value() -> None:
    with pytest.raises(TemplateError):
        render("https://${connectionConfig.subdomain}.zendesk.com", {}, {})


def test_it_falls_back_to_the_second_alternative() -> None:
    template = "${connectionConfig.a || connectionConfig.b}"
    assert render(template, {}, {"b": "second"}) == "second"
    assert render(template, {}, {"a": "first", "b": "second"}) == "first"
