from integrations.providers.base import AuthMode, Pagination, Provider, RateLimit

PROVIDER = Provider(
    name="notion",
    display_name="Notion",
    auth_mode=AuthMode.OAUTH2,
    base_url="https://api.notion.com",
    headers={
        "Authorization": "Bearer ${accessToken}",
        # Notion rejects requests without a version header.
        "Notion-Version": "2022-06-28",
    },
    authorization_url="https://api.notion.com/v1/oauth/authorize",
    token_url="https://api.notion.com/v1/oauth/token",
    authorization_params={"owner": "user"},
    # Notion takes the client credentials as HTTP Basic and a JSON body.
    token_auth_method="client_secret_basic",
    token_body_format="json",
    token_response_metadata=("workspace_id",),
    rate_limit=RateLimit(after=("retry-after",)),
    # POST endpoints (search, database query) take the same names in the JSON body.
    paginate=Pagination(
        type="cursor",
        cursor_path_in_response="next_cursor",
        cursor_name_in_request="start_cursor",
        limit_name_in_request="page_size",
        response_path="results",
    ),
    docs="https://developers.notion.com/reference/intro",
    categories=("productivity", "knowledge-base"),
)
