from integrations.providers.base import AuthMode, Provider, RateLimit

PROVIDER = Provider(
    name="sendgrid",
    display_name="SendGrid",
    auth_mode=AuthMode.API_KEY,
    # Paths carry the version: /v3/mail/send.
    base_url="https://api.sendgrid.com",
    headers={"Authorization": "Bearer ${apiKey}"},
    rate_limit=RateLimit(at=("x-ratelimit-reset",), remaining="x-ratelimit-remaining"),
    # No preset: endpoints mix offset/limit and page_token schemes.
    docs="https://www.twilio.com/docs/sendgrid/api-reference",
    categories=("email", "marketing"),
)
