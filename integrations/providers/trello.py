from integrations.providers.base import AuthMode, Provider, RateLimit

PROVIDER = Provider(
    name="trello",
    display_name="Trello",
    # Trello's delegated auth is OAuth 1.0a; an API key plus a user token is the
    # documented way to call the REST API.
    auth_mode=AuthMode.API_KEY,
    base_url="https://api.trello.com/1",
    query={"key": "${apiKey}", "token": "${credentials.token}"},
    # Limits are per key and per token; the per-token budget is the tighter one.
    rate_limit=RateLimit(remaining="x-rate-limit-api-token-remaining"),
    # No preset: lists page with before/since ids.
    docs="https://developer.atlassian.com/cloud/trello/rest/",
    categories=("productivity", "project-management"),
)
