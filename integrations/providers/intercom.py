from integrations.providers.base import AuthMode, Pagination, Provider, RateLimit

PROVIDER = Provider(
    name="intercom",
    display_name="Intercom",
    auth_mode=AuthMode.OAUTH2,
    base_url="https://api.intercom.io",
    # No Intercom-Version header: the app's version set in the Developer Hub applies.
    headers={"Authorization": "Bearer ${accessToken}"},
    authorization_url="https://app.intercom.com/oauth",
    token_url="https://api.intercom.io/auth/eagle/token",
    rate_limit=RateLimit(at=("x-ratelimit-reset",), remaining="x-ratelimit-remaining"),
    paginate=Pagination(
        type="cursor",
        cursor_path_in_response="pages.next.starting_after",
        cursor_name_in_request="starting_after",
        limit_name_in_request="per_page",
        response_path="data",
    ),
    docs="https://developers.intercom.com/docs/references/rest-api/api.intercom.io",
    categories=("support", "communication"),
)
