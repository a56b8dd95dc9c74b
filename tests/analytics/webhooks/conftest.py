"""Helpers of the sheet webhook tests (the receiver fixture is tests/analytics/conftest.py's)."""

import pytest


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
