from integrations.providers.base import AuthMode, Pagination, Provider

PROVIDER = Provider(
    name="mailchimp",
    display_name="Mailchimp",
    auth_mode=AuthMode.OAUTH2,
    # The data center (e.g. "us6") comes from https://login.mailchimp.com/oauth2/metadata
    # after the OAuth dance; paths carry the version: /3.0/lists.
    base_url="https://${connectionConfig.dc}.api.mailchimp.com",
    headers={"Authorization": "Bearer ${accessToken}"},
    authorization_url="https://login.mailchimp.com/oauth2/authorize",
    token_url="https://login.mailchimp.com/oauth2/token",
    connection_config=("dc",),
    # The list key differs per resource (lists, members, ...), so response_path is per call.
    paginate=Pagination(
        type="offset",
        offset_name_in_request="offset",
        limit_name_in_request="count",
    ),
    docs="https://mailchimp.com/developer/marketing/api/",
    categories=("marketing",),
)
