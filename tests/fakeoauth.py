"""A fake OAuth2 provider on 127.0.0.1, for the Connect tests and the README's example.

It is a `FakeProvider` (tests/fakeprovider.py) with three parts:

- `GET /oauth/authorize`: a consent page (Allow / Deny); the choice sends the browser back
  to `redirect_uri` with `code` and `state`, or with `error=access_denied`.
- `POST /oauth/token`: `authorization_code` (the code once, the same redirect_uri, the PKCE
  verifier when a challenge was sent) and `refresh_token` grants, the client authenticated
  in the body or with HTTP Basic; answers `{access_token, refresh_token, expires_in, ...}`.
- Every other path is the API: a valid `Authorization: Bearer <access token>` gets a
  GitHub-like answer, anything else 401.

    provider = FakeOAuthProvider().start()
    provider.authorize_url, provider.token_url   # an integration's URL overrides
    provider.revoke(token)                        # its next API call answers 401
    provider.token_requests                       # what the token endpoint received
    provider.stop()

By hand (the README's "Connecting end users"): `python tests/fakeoauth.py --port 9100`.
"""

import argparse
import base64
import hashlib
import html
import secrets
import sys
import threading
from urllib.parse import parse_qs, urlencode

if __package__ in (None, ""):  # run as a script: make `tests` importable
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))

from tests.fakeprovider import BENCH_ANSWER, FakeProvider, RecordedRequest

CLIENT_ID = "demo-client"
CLIENT_SECRET = "demo-secret"

CONSENT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fake provider: authorize</title></head>
<body><main>
<h1>Authorize {client}</h1>
<p>The app asks for: <strong>{scope}</strong></p>
<form method="post" action="/oauth/authorize">
{hidden}
<button type="submit" name="decision" value="allow" id="allow">Allow</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button>
</form>
</main></body></html>"""


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class FakeOAuthProvider(FakeProvider):
    def __init__(
        self,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        expires_in: int = 3600,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.client_id, self.client_secret, self.expires_in = client_id, client_secret, expires_in
        self.codes: dict[str, dict] = {}
        self.access_tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.token_requests: list[dict] = []
        self.api_tokens: list[str] = []  # the bearer tokens the API was called with
        self._state = threading.Lock()
        self.route("GET", "/oauth/authorize", self._consent)
        self.route("POST", "/oauth/authorize", self._decide)
        self.route("POST", "/oauth/token", self._token)
        self.default = self._api

    @property
    def authorize_url(self) -> str:
        return self.url + "/oauth/authorize"

    @property
    def token_url(self) -> str:
        return self.url + "/oauth/token"

    def revoke(self, access_token: str) -> None:
        with self._state:
            self.access_tokens.discard(access_token)

    def revoke_refresh_tokens(self) -> None:
        with self._state:
            self.refresh_tokens.clear()

    def _consent(self, request: RecordedRequest) -> tuple:
        query = {k: v[0] for k, v in request.params.items()}
        if query.get("client_id") != self.client_id or not query.get("redirect_uri"):
            return 400, {}, "unknown client or no redirect_uri"
        hidden = "\n".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in query.items()
        )
        page = CONSENT.format(
            client=html.escape(query["client_id"]),
            scope=html.escape(query.get("scope", "")),
            hidden=hidden,
        )
        return 200, {"Content-Type": "text/html; charset=utf-8"}, page

    def _decide(self, request: RecordedRequest) -> tuple:
        form = {k: v[0] for k, v in parse_qs(request.text).items()}
        back = {"state": form.get("state", "")}
        if form.get("decision") == "allow":
            code = secrets.token_urlsafe(16)
            with self._state:
                self.codes[code] = form
            back["code"] = code
        else:
            back.update(error="access_denied", error_description="The user said no")
        separator = "&" if "?" in form["redirect_uri"] else "?"
        return 302, {"Location": form["redirect_uri"] + separator + urlencode(back)}, ""

    def _client(self, request: RecordedRequest, form: dict) -> tuple[str, str]:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return user, password
        return form.get("client_id", ""), form.get("client_secret", "")

    def _token(self, request: RecordedRequest) -> tuple:
        form = {k: v[0] for k, v in parse_qs(request.text).items()}
        self.token_requests.append({"form": form, "headers": dict(request.headers)})
        if self._client(request, form) != (self.client_id, self.client_secret):
            return 401, {}, {"error": "invalid_client"}
        with self._state:
            if form.get("grant_type") == "authorization_code":
                grant = self.codes.pop(form.get("code", ""), None)
                if grant is None or grant.get("redirect_uri") != form.get("redirect_uri"):
                    return 400, {}, {"error": "invalid_grant", "error_description": "bad code"}
                challenge = grant.get("code_challenge")
                if challenge and s256(form.get("code_verifier", "")) != challenge:
                    return 400, {}, {"error": "invalid_grant", "error_description": "PKCE"}
            elif form.get("grant_type") == "refresh_token":
                if form.get("refresh_token") not in self.refresh_tokens:
                    return 400, {}, {"error": "invalid_grant", "error_description": "revoked"}
                self.refresh_tokens.discard(form["refresh_token"])
            else:
                return 400, {}, {"error": "unsupported_grant_type"}
            access, refresh = "fake-at-" + secrets.token_hex(8), "fake-rt-" + secrets.token_hex(8)
            self.access_tokens.add(access)
            self.refresh_tokens.add(refresh)
        answer = {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "scope": form.get("scope", ""),
        }
        return 200, {}, answer

    def _api(self, request: RecordedRequest) -> tuple:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with self._state:
            valid = token in self.access_tokens
        self.api_tokens.append(token)
        if not valid:
            return 401, {}, {"message": "Bad credentials"}
        return (201 if request.method == "POST" else 200), {}, BENCH_ANSWER


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A fake OAuth2 provider on 127.0.0.1.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args(argv)
    fake = FakeOAuthProvider(host=args.host, port=args.port, record=False).start()
    print(f"listening on {fake.url}", flush=True)
    print(f"authorization URL {fake.authorize_url}\ntoken URL {fake.token_url}")
    print(f"client id {fake.client_id}, client secret {fake.client_secret}", flush=True)
    fake.serve_until_interrupted()


if __name__ == "__main__":
    sys.exit(main())
