from integrations.providers.base import AuthMode, Pagination, Provider, RateLimit

PROVIDER = Provider(
    name="calendly",
    display_name="Calendly",
    # Personal access tokens use the same header; OAuth is what a multi-user
    # integration needs.
    auth_mode=AuthMode.OAUTH2,
    base_url="https://api.calendly.com",
    headers={"Authorization": "Bearer ${accessToken}"},
    authorization_url="https://auth.calendly.com/oauth/authorize",
    token_url="https://auth.calendly.com/oauth/token",
    token_response_metadata=("owner",),
    # x-ratelimit-reset is the number of seconds until the window resets, not an epoch.
    rate_limit=RateLimit(
        after=("retry-after", "x-ratelimit-reset"),
        remaining="x-ratelimit-remaining",
    ),
    paginate=Pagination(
        type="cursor",
        cursor_path_in_response="pagination.next_page_token",
        cursor_name_in_request="page_token",
        limit_name_in_request="count",
        response_path="collection",
    ),
    docs="https://developer.calendly.com/api-docs",
    categories=("scheduling", "productivity"),
)
