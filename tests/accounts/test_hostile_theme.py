"""The theme setting's JSON body: hostile input is a 400, never a 500."""

import pytest


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b"not json", b'["dark"]', b'{"theme": "\\u0000"}'],
    ids=["nested too deep", "not JSON", "not an object", "NUL"],
)
def test_a_hostile_theme_body_is_a_400(client, owner, body):
    client.force_login(owner)
    response = client.post("/account/theme/", body, content_type="application/json")
    assert response.status_code == 400, response.content[:200]
    assert response.json()["error"]["code"]
