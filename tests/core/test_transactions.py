"""core.transactions.atomic_retried: a transaction that loses a race (deadlock, serialization
failure, a foreign key gone at commit) is tried again on a fresh transaction, then answered 409;
any other error goes through at once."""

import psycopg
import pytest
from django.db import IntegrityError, OperationalError, transaction

from core.errors import Conflict
from core.transactions import ATTEMPTS, atomic_retried

pytestmark = pytest.mark.django_db(transaction=True)


def lost(race):
    error = OperationalError("lost a race")
    error.__cause__ = race()
    return error


@pytest.mark.parametrize("race", [psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure])
def test_a_lost_race_is_tried_again_in_a_fresh_transaction(race):
    calls = []

    @atomic_retried
    def write():
        calls.append(transaction.get_connection().in_atomic_block)
        if len(calls) < ATTEMPTS:
            raise lost(race)
        return "done"

    assert write() == "done"
    assert calls == [True] * ATTEMPTS


def test_a_race_lost_every_time_is_a_conflict_and_other_errors_go_through():
    @atomic_retried
    def always():
        error = IntegrityError("gone")
        error.__cause__ = psycopg.errors.ForeignKeyViolation()
        raise error

    with pytest.raises(Conflict, match="try again"):
        always()

    calls = []

    @atomic_retried
    def broken():
        calls.append(1)
        raise OperationalError("the database is down")

    with pytest.raises(OperationalError):
        broken()
    assert calls == [1]


def test_inside_an_outer_transaction_it_runs_once():
    calls = []

    @atomic_retried
    def write():
        calls.append(1)
        raise lost(psycopg.errors.DeadlockDetected)

    with pytest.raises(OperationalError), transaction.atomic():
        write()
    assert calls == [1]
