from integrations.providers.base import AuthMode, Provider, RateLimit

PROVIDER = Provider(
    name="linear",
    display_name="Linear",
    auth_mode=AuthMode.OAUTH2,
    # GraphQL only: every call is POST /graphql.
    base_url="https://api.linear.app",
    headers={"Authorization": "Bearer ${accessToken}"},
    authorization_url="https://linear.app/oauth/authorize",
    token_url="https://api.linear.app/oauth/token",
    authorization_params={"prompt": "consent"},
    scope_separator=",",
    pkce=False,
    # Linear answers an exhausted budget with HTTP 400 and a RATELIMITED GraphQL error
    # rather than 429, so the remaining header (0 then) is what marks it retryable.
    # The reset header is an epoch in milliseconds.
    rate_limit=RateLimit(
        at=("x-ratelimit-requests-reset",),
        remaining="x-ratelimit-requests-remaining",
    ),
    # No preset: GraphQL connections page through pageInfo.endCursor in query variables.
    docs="https://linear.app/developers",
    categories=("ticketing", "project-management"),
)
