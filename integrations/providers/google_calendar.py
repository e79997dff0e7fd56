from integrations.providers.base import AuthMode, Pagination, Provider, RateLimit

PROVIDER = Provider(
    name="google-calendar",
    display_name="Google Calendar",
    auth_mode=AuthMode.OAUTH2,
    base_url="https://www.googleapis.com/calendar/v3",
    headers={"Authorization": "Bearer ${accessToken}"},
    authorization_url="https://accounts.google.com/o/oauth2/v2/auth",
    token_url="https://oauth2.googleapis.com/token",
    # offline + consent: Google issues a refresh token only when both are asked for.
    authorization_params={"access_type": "offline", "prompt": "consent"},
    # Google reports exhausted quotas as 403 rateLimitExceeded as well as 429, and asks
    # for exponential backoff on both.
    rate_limit=RateLimit(error_codes=("403", "429", "5xx")),
    paginate=Pagination(
        type="cursor",
        cursor_path_in_response="nextPageToken",
        cursor_name_in_request="pageToken",
        limit_name_in_request="maxResults",
        response_path="items",
    ),
    docs="https://developers.google.com/calendar/api/v3/reference",
    categories=("productivity", "scheduling"),
)
