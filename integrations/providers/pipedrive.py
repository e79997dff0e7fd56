from integrations.providers.base import AuthMode, Pagination, Provider, RateLimit

PROVIDER = Provider(
    name="pipedrive",
    display_name="Pipedrive",
    auth_mode=AuthMode.OAUTH2,
    # Paths carry the version: /v1/deals or /api/v2/deals.
    base_url="https://api.pipedrive.com",
    headers={"Authorization": "Bearer ${accessToken}"},
    authorization_url="https://oauth.pipedrive.com/oauth/authorize",
    token_url="https://oauth.pipedrive.com/oauth/token",
    pkce=False,
    token_auth_method="client_secret_basic",
    token_response_metadata=("api_domain",),
    # x-ratelimit-reset is a relative wait in seconds, not an epoch.
    rate_limit=RateLimit(
        after=("retry-after", "x-ratelimit-reset"),
        remaining="x-ratelimit-remaining",
    ),
    # v1 list endpoints; v2 endpoints page with a cursor and are overridden per call.
    paginate=Pagination(
        type="offset",
        offset_name_in_request="start",
        limit_name_in_request="limit",
        response_path="data",
    ),
    docs="https://developers.pipedrive.com/docs/api/v1",
    categories=("crm",),
)
