import json

from webhooks import signing

# Computed independently with Node's crypto, as @nangohq/node does:
#   createHmac('sha256', KEY).update(BODY).digest('hex')
#   createHash('sha256').update(KEY + JSON.stringify(JSON.parse(BODY))).digest('hex')
KEY = "whsec-test-vector"
ID = "0b7c2f9e-5d1a-4c3b-9a8e-7f6d5c4b3a21"
MESSAGE = {
    "type": "async_action",
    "from": "nango",
    "connectionId": "conn-1",
    "providerConfigKey": "github",
    "payload": {"id": ID, "statusUrl": f"/action/{ID}"},
    "success": True,
    "sentAt": "2026-01-02T03:04:05.678Z",
}
BODY = (
    '{"connectionId":"conn-1","from":"nango","payload":{"id":"' + ID + '","statusUrl":"/action/'
    + ID + '"},"providerConfigKey":"github","sentAt":"2026-01-02T03:04:05.678Z",'
    '"success":true,"type":"async_action"}'
)  # fmt: skip
HMAC = "ea849d852c34880312a9aeb026d747df266d8cf71235b3f318d065328dbf4a72"
LEGACY = "1968c93b434d54b5c83ccbb13a8e08213c9c4da3f1701c3efe9890ce55fbdea8"


def test_it_serializes_with_sorted_keys_and_no_spaces():
    assert signing.serialize(MESSAGE) == BODY


def test_it_reproduces_the_known_signature_vector():
    body = BODY.encode()
    assert signing.hmac_sha256(KEY, body) == HMAC
    assert signing.legacy_signature(KEY, body) == LEGACY
    headers = signing.headers(KEY, body)
    assert headers["X-Nango-Hmac-Sha256"] == HMAC
    assert headers["X-Nango-Signature"] == LEGACY
    assert headers["Content-Type"] == "application/json"


def test_it_verifies_in_constant_time_and_refuses_tampering():
    body = BODY.encode()
    assert signing.verify(KEY, body, HMAC)
    assert not signing.verify("another-key", body, HMAC)
    assert not signing.verify(KEY, body.replace(b"true", b"false"), HMAC)
    assert not signing.verify(KEY, body, "")


def test_it_keeps_non_ascii_as_is_so_javascript_reserializes_it_identically():
    text = signing.serialize({"b": "café ☕", "a": [1, None]})
    assert text == '{"a":[1,null],"b":"café ☕"}'
    assert json.loads(text) == {"b": "café ☕", "a": [1, None]}
