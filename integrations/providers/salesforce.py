from integrations.providers.base import AuthMode, Pagination, Provider

PROVIDER = Provider(
    name="salesforce",
    display_name="Salesforce",
    auth_mode=AuthMode.OAUTH2,
    # Every org lives on its own host, returned as `instance_url` by the token endpoint.
    base_url="${connectionConfig.instance_url}",
    headers={"Authorization": "Bearer ${accessToken}"},
    # Production orgs; sandboxes authorize on test.salesforce.com instead.
    authorization_url="https://login.salesforce.com/services/oauth2/authorize",
    token_url="https://login.salesforce.com/services/oauth2/token",
    authorization_params={"prompt": "consent"},
    default_scopes=("offline_access",),
    # The org's own host, which the base URL needs, comes with the token.
    token_response_metadata=("instance_url",),
    connection_config=("instance_url",),
    # SOQL query results: nextRecordsUrl is a path on the instance, e.g.
    # /services/data/v60.0/query/01g...-2000; the batch size is set by a header, not a parameter.
    paginate=Pagination(
        type="link",
        link_path_in_response_body="nextRecordsUrl",
        response_path="records",
    ),
    docs="https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/",
    categories=("crm",),
)
