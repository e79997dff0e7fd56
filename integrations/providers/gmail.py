from integrations.providers.base import AuthMode, Pagination, Provider, RateLimit

PROVIDER = Provider(
    name="gmail",
    display_name="Gmail",
    auth_mode=AuthMode.OAUTH2,
    # Paths carry the version: /gmail/v1/users/me/messages.
    base_url="https://gmail.googleapis.com",
    headers={"Authorization": "Bearer ${accessToken}"},
    authorization_url="https://accounts.google.com/o/oauth2/v2/auth",
    token_url="https://oauth2.googleapis.com/token",
    # offline + consent: Google issues a refresh token only when both are asked for.
    authorization_params={"access_type": "offline", "prompt": "consent"},
    # Google reports exhausted quotas as 403 userRateLimitExceeded as well as 429.
    rate_limit=RateLimit(error_codes=("403", "429", "5xx")),
    # response_path fits messages.list, the common case; threads/history override it.
    paginate=Pagination(
        type="cursor",
        cursor_path_in_response="nextPageToken",
        cursor_name_in_request="pageToken",
        limit_name_in_request="maxResults",
        response_path="messages",
    ),
    docs="https://developers.google.com/gmail/api/reference/rest",
    categories=("communication", "email"),
)
