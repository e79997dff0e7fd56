"""`POST /actions/<integration>/<action>`: a trigger whose action is in the path and whose
input is the whole body (an empty body is `null`).

It gives every deployed action a path of its own, so the OpenAPI document can describe each
one with its input and output schemas and OpenAPI tooling can call it. Everything else is
`POST /action/trigger`: the same headers (Provider-Config-Key comes from the path), the same
answers, the same execution records.
"""

from django.http import HttpResponse
from rest_framework.decorators import api_view

from executions.serializers import trigger_body, trigger_headers
from executions.views import trigger
from nangosite.api import invalid


def has_body(request) -> bool:
    length = request.META.get("CONTENT_LENGTH") or "0"
    return length != "0" or "HTTP_TRANSFER_ENCODING" in request.META


@api_view(["POST"])
def trigger_named(request, key: str, name: str) -> HttpResponse:
    h, problems = trigger_headers({**request.META, "HTTP_PROVIDER_CONFIG_KEY": key})
    if problems:
        raise invalid("invalid_headers", problems)
    b, problems = trigger_body(
        {"action_name": name, "input": request.data if has_body(request) else None}
    )
    if problems:
        raise invalid("invalid_uri_params", problems, "Invalid action name")
    if request.query_params:
        raise invalid("invalid_query_params", {"query": ["The query string must be empty."]})
    return trigger(request.auth, h, b)
