"""The flush that ends every transactional test is retried when the database fails it once
(tests/conftest.py `_flush_retried`): a deadlock with the browser tests' server must not leave the
next test this one's rows."""

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection

from accounts.models import User
from tests.factories import user


@pytest.mark.django_db(transaction=True)
def test_a_flush_the_database_fails_once_is_retried(monkeypatch, capsys):
    user(email="left@behind.test")
    execute_sql_flush = connection.ops.execute_sql_flush
    failures = []

    def deadlocked_once(sql_list):
        if not failures:
            failures.append(1)
            raise OperationalError("deadlock detected")
        return execute_sql_flush(sql_list)

    monkeypatch.setattr(connection.ops, "execute_sql_flush", deadlocked_once)
    call_command("flush", verbosity=0, interactive=False)
    assert failures == [1]
    assert not User.objects.exists()
    assert "deadlock detected" in capsys.readouterr().err
