"""Server-side request forgery through a sheet's webhooks: a URL to loopback, a private, link-local
or reserved address is refused when it is given (400, nothing saved) unless the operator allows it
(GRIDCAST_WEBHOOK_ALLOW), and again when it is called (DNS may have changed since)."""

import pytest

from analytics.deliveries import sender
from analytics.models import Delivery, Webhook
from sheets import services

from .conftest import hooks_url

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/admin/",
        "http://localhost/",
        "http://[::1]/",
        "http://10.0.0.5/hook",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",  # 127.0.0.1 as one number
    ],
)
def test_loopback_and_private_addresses_are_refused(api, owner, sheet, url):
    answer = api(owner).post(hooks_url(sheet), {"url": url}, format="json")
    assert answer.status_code == 400, answer.content
    assert "only public addresses" in str(answer.json()) or "does not resolve" in str(answer.json())
    assert not Webhook.objects.exists()


def test_a_patch_to_a_private_address_is_refused(api, owner, sheet, receiver, add_webhook):
    hook = add_webhook(sheet, url=receiver().url)
    answer = api(owner).patch(f"{hooks_url(sheet)}{hook['id']}/", {"url": "http://10.1.2.3/"}, format="json")
    assert answer.status_code == 400
    assert Webhook.objects.get(pk=hook["id"]).url == hook["url"]


def test_an_address_disallowed_after_it_was_given_is_not_called(
    owner, sheet, receiver, add_webhook, settings, django_capture_on_commit_callbacks
):
    hook = receiver()
    add_webhook(sheet, url=hook.url)
    settings.GRIDCAST = {**settings.GRIDCAST, "OUTBOUND_ALLOW": []}  # the operator withdrew the exception
    with django_capture_on_commit_callbacks(execute=True):
        services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": "x"}])
    assert sender.send_due() == 1
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and "only public addresses" in delivery.error
    assert hook.requests == []
