from integrations.providers.base import AuthMode, Pagination, Provider, RateLimit

PROVIDER = Provider(
    name="zoom",
    display_name="Zoom",
    auth_mode=AuthMode.OAUTH2,
    base_url="https://api.zoom.us/v2",
    headers={"Authorization": "Bearer ${accessToken}"},
    authorization_url="https://zoom.us/oauth/authorize",
    token_url="https://zoom.us/oauth/token",
    scope_separator=",",
    rate_limit=RateLimit(after=("retry-after",), remaining="x-ratelimit-remaining"),
    # The list key differs per resource (meetings, users, ...), so response_path is per call.
    paginate=Pagination(
        type="cursor",
        cursor_path_in_response="next_page_token",
        cursor_name_in_request="next_page_token",
        limit_name_in_request="page_size",
    ),
    docs="https://developers.zoom.us/docs/api/",
    categories=("video", "communication"),
)
