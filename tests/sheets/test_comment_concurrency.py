"""A comment and the deletion of its row at the same moment, in two transactions (real PostgreSQL
row locks): the deletion waits for the comment's commit, so a new comment never lands on a row
deleted meanwhile (it is there before the deletion, which keeps it as a deleted row's thread)."""

import threading
import time

import pytest
from django.db import connection, transaction

from accounts.permissions import Access
from sheets import services
from sheets.models import Comment, Row
from sheets.services import comments

from ..factories import make_sheet

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_rows_deletion_waits_for_a_comment_being_written_on_it(workspace, owner, editor):
    sheet = make_sheet(workspace, owner, rows=1)
    row = Row.objects.get(sheet=sheet).pk
    written, release, deleted_at, outcome = threading.Event(), threading.Event(), {}, {}

    def comment():
        try:
            with transaction.atomic():
                comments.comment_create(sheet=sheet, actor=editor, access=Access.EDIT, row=row, col="c1", body="x")
                written.set()
                release.wait(5)
                outcome["committed_at"] = time.monotonic()
        finally:
            written.set()
            connection.close()

    def delete():
        written.wait(5)
        try:
            services.rows_delete(sheet=sheet, actor=owner, row_ids=[row])
            deleted_at["at"] = time.monotonic()
        finally:
            connection.close()

    threads = [threading.Thread(target=comment), threading.Thread(target=delete)]
    for thread in threads:
        thread.start()
    written.wait(5)
    time.sleep(0.5)
    assert "at" not in deleted_at, "the deletion went ahead under a comment being written on its row"
    release.set()
    for thread in threads:
        thread.join(15)
    assert deleted_at["at"] >= outcome["committed_at"]
    assert not Row.objects.filter(pk=row).exists()
    assert Comment.objects.get().row_id == row  # kept: a deleted row's thread
