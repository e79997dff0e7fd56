from integrations.providers.base import AuthMode, Pagination, Provider, RateLimit

PROVIDER = Provider(
    name="slack",
    display_name="Slack",
    auth_mode=AuthMode.OAUTH2,
    base_url="https://slack.com/api",
    headers={"Authorization": "Bearer ${accessToken}"},
    authorization_url="https://slack.com/oauth/v2/authorize",
    token_url="https://slack.com/api/oauth.v2.access",
    scope_separator=",",
    pkce=False,
    # A user-token-only app gets its token under "authed_user".
    token_response_path="authed_user",
    token_response_metadata=(
        "incoming_webhook.url",
        "incoming_webhook.channel",
        "incoming_webhook.channel_id",
        "bot_user_id",
        "team.id",
    ),
    user_scope_param="user_scope",
    # Slack sends no remaining-budget header; a 429 only carries Retry-After.
    rate_limit=RateLimit(after=("retry-after",)),
    paginate=Pagination(
        type="cursor",
        cursor_path_in_response="response_metadata.next_cursor",
        cursor_name_in_request="cursor",
        limit_name_in_request="limit",
    ),
    docs="https://api.slack.com/web",
    categories=("communication",),
)
