"""Comments over the sheet socket: a comment written, edited, resolved, reopened or deleted reaches
every open connection of the sheet (editor and viewer alike) as a `comment` frame, schema-checked by
the autouse fixture; a public link's connection hears nothing of comments."""

import pytest
from channels.db import database_sync_to_async

from accounts.permissions import Access
from sheets import public_links
from sheets.models import Row
from sheets.services import comments as services

from ..factories import make_sheet
from .test_public_socket import open_public

pytestmark = pytest.mark.django_db(transaction=True)


async def test_every_connection_of_the_sheet_gets_each_change_of_a_comment(workspace, owner, editor, viewer, connect):
    sheet = await database_sync_to_async(make_sheet)(workspace, owner, rows=2)
    row = await database_sync_to_async(lambda: Row.objects.filter(sheet=sheet).first().pk)()
    link = await database_sync_to_async(public_links.public_link_create)(
        workspace=workspace, sheet=sheet, access="view", created_by=owner
    )
    alice, _ = await connect(editor, sheet)
    bob, _ = await connect(viewer, sheet)
    public, _ = await open_public(link.key)

    create = database_sync_to_async(services.comment_create)
    comment = await create(
        sheet=sheet, actor=editor, access=Access.EDIT, row=row, col="c1", body="<b>hi</b> @bob", mentions=[viewer.pk]
    )
    for client in (alice, bob):
        frame = await client.recv_type("comment")
        assert frame["event"] == "created" and frame["deleted"] == []
        assert frame["comment"]["id"] == comment.pk and frame["comment"]["body"] == "<b>hi</b> @bob"
        assert frame["comment"]["row"] == row and frame["comment"]["col"] == "c1"
        assert frame["comment"]["mentions"] == [{"id": viewer.pk, "name": viewer.label}]

    reply = await create(sheet=sheet, actor=owner, access=Access.OWN, thread=comment.pk, body="ok")
    assert (await bob.recv_type("comment"))["comment"]["thread"] == comment.pk

    await database_sync_to_async(services.comment_update)(comment=comment, actor=editor, access=Access.EDIT, body="hi")
    changed = await bob.recv_type("comment")
    assert changed["event"] == "changed" and changed["comment"]["edited_at"]

    await database_sync_to_async(services.comment_resolve)(
        comment=comment, actor=editor, access=Access.EDIT, resolved=True
    )
    resolved = await bob.recv_type("comment")
    assert resolved["event"] == "resolved" and resolved["comment"]["resolved"] is True

    ids = sorted([comment.pk, reply.pk])
    await database_sync_to_async(services.comment_delete)(comment=comment, actor=owner, access=Access.OWN)
    deleted = await bob.recv_type("comment")
    assert deleted["event"] == "deleted" and sorted(deleted["deleted"]) == ids

    assert await public.no("comment")
    await public.close()
