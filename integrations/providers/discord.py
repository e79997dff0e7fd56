from integrations.providers.base import AuthMode, Provider, RateLimit

PROVIDER = Provider(
    name="discord",
    display_name="Discord",
    # A bot token pasted by the user: most Discord API calls need a bot, not a user token.
    auth_mode=AuthMode.BEARER,
    # Pinned: the unversioned API path serves a deprecated version.
    base_url="https://discord.com/api/v10",
    headers={"Authorization": "Bot ${accessToken || apiKey}"},
    # Reset is an epoch in seconds and Reset-After a relative wait, both with decimals.
    rate_limit=RateLimit(
        after=("retry-after", "x-ratelimit-reset-after"),
        at=("x-ratelimit-reset",),
        remaining="x-ratelimit-remaining",
    ),
    # No preset: message lists page with before/after snowflake ids.
    docs="https://discord.com/developers/docs/reference",
    categories=("communication",),
)
