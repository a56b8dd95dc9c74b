import json

import pytest
from django.urls import reverse

from accounts.models import Role

from ..factories import member

pytestmark = pytest.mark.django_db


def _home_data(response):
    html = response.content.decode()
    start = html.index('<script id="home-data" type="application/json">') + len(
        '<script id="home-data" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_home_needs_a_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_home_hands_the_widget_its_data_as_json(client, workspace, owner, sheet):
    client.force_login(owner)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    data = _home_data(response)
    assert data["user"]["email"] == owner.email
    assert data["workspaces"][0]["sheets"][0]["name"] == sheet.name
    assert 'id="home"' in response.content.decode()


def test_home_data_cannot_break_out_of_its_script(client, workspace, owner):
    from tests.factories import make_sheet

    make_sheet(workspace, owner, name="</script><script>alert(1)</script>")
    client.force_login(owner)
    response = client.get(reverse("home"))
    assert "<script>alert(1)" not in response.content.decode()
    assert _home_data(response)["workspaces"][0]["sheets"][0]["name"] == "</script><script>alert(1)</script>"


def test_theme_is_saved_and_rendered(client, workspace):
    person = member(workspace, Role.VIEWER)
    client.force_login(person)
    response = client.post(reverse("theme"), json.dumps({"theme": "dark"}), content_type="application/json")
    assert response.json() == {"theme": "dark"}
    assert 'data-theme="dark"' in client.get(reverse("home")).content.decode()
    bad = client.post(reverse("theme"), json.dumps({"theme": "neon"}), content_type="application/json")
    assert bad.status_code == 400 and "theme must be one of" in bad.json()["error"]["message"]


def test_tokens_page_creates_a_token_and_shows_it_once(client, workspace, owner):
    client.force_login(owner)
    response = client.post(reverse("tokens"), {"name": "script", "workspace": str(workspace.pk)})
    body = response.content.decode()
    assert 'data-testid="new-key"' in body and "gc_" in body
    assert 'data-testid="new-key"' not in client.get(reverse("tokens")).content.decode()
    assert owner.api_tokens.get().workspace == workspace
