"""Transactions that race with others on the same rows: retried, then a clear 409.

A cascading delete (a workspace, a sheet) reads what it must delete, then deletes it; a write that
lands in between (a row added to one of its sheets, a token of its workspace) can deadlock with it
or leave a row whose parent is gone, which PostgreSQL refuses at commit (a deferred foreign key).
Short writes that lock rows others lock too (a member's role) can be chosen as a deadlock's victim.
Both are the database keeping the data whole, not a fault: the work is tried again on a fresh
transaction, and after ATTEMPTS the caller gets a Conflict (409) to retry, never a server error."""

import functools
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import DatabaseError, IntegrityError, transaction

from .errors import Conflict

ATTEMPTS = 3
# SQLSTATEs of a lost race: deadlock_detected, serialization_failure, foreign_key_violation
RACES = {"40P01", "40001", "23503"}

P = ParamSpec("P")
T = TypeVar("T")


def _lost_race(error: DatabaseError) -> bool:
    return getattr(error.__cause__, "sqlstate", None) in RACES or getattr(error.__cause__, "pgcode", None) in RACES


def atomic_retried(function: Callable[P, T]) -> Callable[P, T]:
    """`function` in its own transaction, tried again when it loses a race with another one. Inside
    an outer transaction it runs once (that transaction is the one to retry, by its owner)."""

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        if transaction.get_connection().in_atomic_block:
            with transaction.atomic():
                return function(*args, **kwargs)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with transaction.atomic():
                    return function(*args, **kwargs)
            except (IntegrityError, DatabaseError) as error:
                if not _lost_race(error):
                    raise
                if attempt == ATTEMPTS:
                    raise Conflict("changed by someone else at the same moment; try again") from error
                time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    return run
