from integrations.providers.base import AuthMode, Pagination, Provider, RateLimit

PROVIDER = Provider(
    name="airtable",
    display_name="Airtable",
    # Personal access tokens work with the same header; OAuth is what a multi-user
    # integration needs.
    auth_mode=AuthMode.OAUTH2,
    base_url="https://api.airtable.com",
    headers={"Authorization": "Bearer ${accessToken}"},
    authorization_url="https://airtable.com/oauth2/v1/authorize",
    token_url="https://airtable.com/oauth2/v1/token",
    # Airtable takes the client credentials as HTTP Basic only.
    token_auth_method="client_secret_basic",
    # A 429 carries no timing headers; Airtable asks for a 30 second pause.
    rate_limit=RateLimit(),
    paginate=Pagination(
        type="cursor",
        cursor_path_in_response="offset",
        cursor_name_in_request="offset",
        limit_name_in_request="pageSize",
        response_path="records",
    ),
    docs="https://airtable.com/developers/web/api/introduction",
    categories=("productivity",),
)
