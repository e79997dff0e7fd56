from integrations.providers.base import AuthMode, Pagination, Provider

PROVIDER = Provider(
    name="twilio",
    display_name="Twilio",
    # Username is the Account SID (or an API key SID), password the auth token (or key secret).
    auth_mode=AuthMode.BASIC,
    # Paths carry the version and account: /2010-04-01/Accounts/{AccountSid}/Messages.json.
    base_url="https://api.twilio.com",
    headers={"Authorization": "Basic ${basic}"},
    # next_page_uri is a path on api.twilio.com; the list key differs per resource.
    paginate=Pagination(
        type="link",
        link_path_in_response_body="next_page_uri",
        limit_name_in_request="PageSize",
    ),
    docs="https://www.twilio.com/docs/usage/api",
    categories=("communication",),
)
