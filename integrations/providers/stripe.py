from integrations.providers.base import AuthMode, Provider, RateLimit

PROVIDER = Provider(
    name="stripe",
    display_name="Stripe",
    auth_mode=AuthMode.API_KEY,
    base_url="https://api.stripe.com",
    # Stripe also accepts the secret key as a Basic username; Bearer is what its docs show.
    headers={"Authorization": "Bearer ${apiKey}"},
    # A 429 carries no timing headers, so the caller's backoff decides.
    rate_limit=RateLimit(),
    # No preset: list endpoints page with starting_after=<id of the last object> and a
    # has_more flag, which no cursor path in the response can express.
    docs="https://docs.stripe.com/api",
    categories=("payment",),
)
