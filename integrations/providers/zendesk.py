from integrations.providers.base import AuthMode, Pagination, Provider, RateLimit

PROVIDER = Provider(
    name="zendesk",
    display_name="Zendesk",
    auth_mode=AuthMode.OAUTH2,
    base_url="https://${connectionConfig.subdomain}.zendesk.com",
    headers={"Authorization": "Bearer ${accessToken}"},
    authorization_url="https://${connectionConfig.subdomain}.zendesk.com/oauth/authorizations/new",
    token_url="https://${connectionConfig.subdomain}.zendesk.com/oauth/tokens",
    token_params={"expires_in": "1800"},
    refresh_params={"expires_in": "1800"},
    connection_config=("subdomain",),
    rate_limit=RateLimit(after=("retry-after",), remaining="x-rate-limit-remaining"),
    # Cursor-based pagination (page[size] switches it on); the list key differs per
    # resource (tickets, users, ...), so response_path is set per call.
    paginate=Pagination(
        type="link",
        link_path_in_response_body="links.next",
        limit_name_in_request="page[size]",
    ),
    docs="https://developer.zendesk.com/api-reference/",
    categories=("ticketing", "support"),
)
