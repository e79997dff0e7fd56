from integrations.providers.base import AuthMode, Pagination, Provider, RateLimit

PROVIDER = Provider(
    name="asana",
    display_name="Asana",
    auth_mode=AuthMode.OAUTH2,
    base_url="https://app.asana.com/api/1.0",
    headers={"Authorization": "Bearer ${accessToken}"},
    authorization_url="https://app.asana.com/-/oauth_authorize",
    token_url="https://app.asana.com/-/oauth_token",
    default_scopes=("default",),
    rate_limit=RateLimit(after=("retry-after",)),
    paginate=Pagination(
        type="cursor",
        cursor_path_in_response="next_page.offset",
        cursor_name_in_request="offset",
        limit_name_in_request="limit",
        response_path="data",
    ),
    docs="https://developers.asana.com/reference/rest-api-reference",
    categories=("productivity", "project-management"),
)
