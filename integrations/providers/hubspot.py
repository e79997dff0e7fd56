from integrations.providers.base import AuthMode, Pagination, Provider, RateLimit

PROVIDER = Provider(
    name="hubspot",
    display_name="HubSpot",
    auth_mode=AuthMode.OAUTH2,
    base_url="https://api.hubapi.com",
    headers={"Authorization": "Bearer ${accessToken}"},
    authorization_url="https://app.hubspot.com/oauth/authorize",
    token_url="https://api.hubapi.com/oauth/v1/token",
    rate_limit=RateLimit(remaining="x-hubspot-ratelimit-remaining"),
    # The CRM v3 list endpoints all share this shape.
    paginate=Pagination(
        type="cursor",
        cursor_path_in_response="paging.next.after",
        cursor_name_in_request="after",
        limit_name_in_request="limit",
        response_path="results",
    ),
    docs="https://developers.hubspot.com/docs/api/overview",
    categories=("crm", "marketing"),
)
