from integrations.providers.base import AuthMode, Pagination, Provider, RateLimit

PROVIDER = Provider(
    name="shopify",
    display_name="Shopify",
    auth_mode=AuthMode.OAUTH2,
    # Admin API paths carry the version: /admin/api/2024-10/orders.json.
    base_url="https://${connectionConfig.subdomain}.myshopify.com",
    # Shopify ignores Authorization: Bearer on the Admin API.
    headers={"X-Shopify-Access-Token": "${accessToken}"},
    authorization_url="https://${connectionConfig.subdomain}.myshopify.com/admin/oauth/authorize",
    token_url="https://${connectionConfig.subdomain}.myshopify.com/admin/oauth/access_token",
    # Expiring offline tokens, with a refresh token.
    token_params={"expiring": "1"},
    connection_config=("subdomain",),
    # X-Shopify-Shop-Api-Call-Limit is "used/size" rather than a remaining count.
    rate_limit=RateLimit(after=("retry-after",)),
    paginate=Pagination(
        type="link",
        link_rel_in_response_header="next",
        limit_name_in_request="limit",
    ),
    docs="https://shopify.dev/docs/api/admin-rest",
    categories=("e-commerce",),
)
