"""Fixtures of the sheet webhook tests: real HTTP receivers on loopback (allowed by
GRIDCAST["OUTBOUND_ALLOW"], as an operator would allow an internal address)."""

import pytest

from tests.analytics.alerts.webhook_receiver import Receiver


@pytest.fixture
def allow_loopback(settings):
    settings.GRIDCAST = {**settings.GRIDCAST, "OUTBOUND_ALLOW": ["127.0.0.1/32"]}


@pytest.fixture
def receiver(allow_loopback):
    made = []

    def make(*statuses, **kwargs):
        made.append(Receiver(statuses or (200,), **kwargs))
        return made[-1]

    yield make
    for r in made:
        r.close()


def hooks_url(sheet):
    return f"/api/v1/sheets/{sheet.pk}/webhooks/"


@pytest.fixture
def add_webhook(api, owner):
    """POST a webhook as the workspace's owner; returns its JSON (with its secret)."""

    def add(sheet, **fields):
        answer = api(owner).post(hooks_url(sheet), fields, format="json")
        assert answer.status_code == 201, answer.content
        return answer.json()

    return add
