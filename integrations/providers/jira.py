from integrations.providers.base import AuthMode, Pagination, Provider, RateLimit

PROVIDER = Provider(
    name="jira",
    display_name="Jira",
    auth_mode=AuthMode.OAUTH2,
    # OAuth 2.0 (3LO) tokens only work through the Atlassian API gateway, addressed by
    # the site's cloud id (from /oauth/token/accessible-resources).
    base_url="https://api.atlassian.com/ex/jira/${connectionConfig.cloudId}",
    headers={"Authorization": "Bearer ${accessToken}"},
    authorization_url="https://auth.atlassian.com/authorize",
    token_url="https://auth.atlassian.com/oauth/token",
    authorization_params={"audience": "api.atlassian.com", "prompt": "consent"},
    # Without it Atlassian issues no refresh token.
    default_scopes=("offline_access",),
    connection_config=("cloudId",),
    # X-RateLimit-Reset is an ISO 8601 date, not an epoch, so only Retry-After is usable.
    rate_limit=RateLimit(after=("retry-after",), remaining="x-ratelimit-remaining"),
    # Jira's PageBean endpoints; issue search returns "issues" instead and is overridden per call.
    paginate=Pagination(
        type="offset",
        offset_name_in_request="startAt",
        limit_name_in_request="maxResults",
        response_path="values",
    ),
    docs="https://developer.atlassian.com/cloud/jira/platform/rest/v3/intro/",
    categories=("ticketing", "project-management"),
)
