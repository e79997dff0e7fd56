from integrations.providers.base import AuthMode, Provider, RateLimit

PROVIDER = Provider(
    name="dropbox",
    display_name="Dropbox",
    auth_mode=AuthMode.OAUTH2,
    # RPC endpoints; uploads and downloads go to content.dropboxapi.com instead.
    base_url="https://api.dropboxapi.com",
    headers={"Authorization": "Bearer ${accessToken}"},
    authorization_url="https://www.dropbox.com/oauth2/authorize",
    token_url="https://api.dropboxapi.com/oauth2/token",
    # Without it Dropbox issues no refresh token.
    authorization_params={"token_access_type": "offline"},
    rate_limit=RateLimit(after=("retry-after",)),
    # No preset: listings continue by POSTing the cursor to a separate /continue endpoint.
    docs="https://www.dropbox.com/developers/documentation/http/documentation",
    categories=("storage",),
)
