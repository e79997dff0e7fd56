from integrations.providers.base import AuthMode, Pagination, Provider, RateLimit

PROVIDER = Provider(
    name="github",
    display_name="GitHub",
    auth_mode=AuthMode.OAUTH2,
    base_url="https://api.github.com",
    headers={
        "Authorization": "Bearer ${accessToken}",
        "Accept": "application/vnd.github+json",
        # Pinned so a new default API version cannot change response shapes under us.
        "X-GitHub-Api-Version": "2022-11-28",
    },
    authorization_url="https://github.com/login/oauth/authorize",
    token_url="https://github.com/login/oauth/access_token",
    # The primary limit is answered with 403 (not 429) and x-ratelimit-remaining: 0;
    # secondary limits add Retry-After, which the default `after` already covers.
    rate_limit=RateLimit(
        at=("x-ratelimit-reset",),
        remaining="x-ratelimit-remaining",
        error_codes=("403", "429", "5xx"),
    ),
    paginate=Pagination(
        type="link",
        link_rel_in_response_header="next",
        limit_name_in_request="per_page",
    ),
    docs="https://docs.github.com/en/rest",
    categories=("dev-tools",),
)
