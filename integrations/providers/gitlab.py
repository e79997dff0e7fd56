from integrations.providers.base import AuthMode, Pagination, Provider, RateLimit

PROVIDER = Provider(
    name="gitlab",
    display_name="GitLab",
    auth_mode=AuthMode.OAUTH2,
    # GitLab.com; self-managed instances would need their own host.
    base_url="https://gitlab.com/api/v4",
    headers={"Authorization": "Bearer ${accessToken}"},
    authorization_url="https://gitlab.com/oauth/authorize",
    token_url="https://gitlab.com/oauth/token",
    rate_limit=RateLimit(
        after=("retry-after",),
        at=("ratelimit-reset",),
        remaining="ratelimit-remaining",
    ),
    paginate=Pagination(
        type="link",
        link_rel_in_response_header="next",
        limit_name_in_request="per_page",
    ),
    docs="https://docs.gitlab.com/ee/api/rest/",
    categories=("dev-tools",),
)
