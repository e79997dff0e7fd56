"""The one outbound seam (`nangosite/lib/http.py`) sends what `requests` would."""

import responses

from nangosite.lib import http


@responses.activate
def test_a_header_set_to_none_is_left_out_as_requests_leaves_it_out():
    responses.get("https://api.example.test/user", json={"ok": True})
    headers = {"Accept-Encoding": None, "X-Trace": None, "Authorization": "Bearer t"}
    response = http.send(http.Request("GET", "https://api.example.test/user", headers=headers))
    assert response.json() == {"ok": True}
    sent = responses.calls[0].request.headers
    assert "Accept-Encoding" not in sent and "X-Trace" not in sent
    assert sent["Authorization"] == "Bearer t"
    assert sent["User-Agent"].startswith("python-requests/")  # the defaults stay
