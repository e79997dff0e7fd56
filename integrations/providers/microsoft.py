from integrations.providers.base import AuthMode, Pagination, Provider, RateLimit

PROVIDER = Provider(
    name="microsoft",
    display_name="Microsoft Graph",
    auth_mode=AuthMode.OAUTH2,
    # Paths carry the version: /v1.0/me/messages.
    base_url="https://graph.microsoft.com",
    headers={"Authorization": "Bearer ${accessToken}"},
    # The "common" tenant accepts both work/school and personal accounts.
    authorization_url="https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
    token_url="https://login.microsoftonline.com/common/oauth2/v2.0/token",
    authorization_params={"response_mode": "query"},
    default_scopes=("offline_access", ".default"),
    pkce=False,
    # Throttling is 429 (sometimes 503/504) with Retry-After in seconds.
    rate_limit=RateLimit(after=("retry-after",)),
    # "@odata.nextLink" is a single key containing a dot, not a nested path.
    paginate=Pagination(
        type="link",
        link_path_in_response_body="@odata.nextLink",
        limit_name_in_request="$top",
        response_path="value",
    ),
    docs="https://learn.microsoft.com/en-us/graph/api/overview",
    categories=("productivity", "communication"),
)
