"""Saved views over the sheet socket: a shared view created, changed, made personal or deleted
reaches every open connection of the sheet as a `views` frame (schema-checked by the autouse
fixture); personal views are announced to nobody."""

import pytest
from channels.db import database_sync_to_async

from accounts.permissions import Access
from sheets.services import views as services

from ..factories import make_sheet

pytestmark = pytest.mark.django_db(transaction=True)


async def test_shared_views_are_announced_and_personal_ones_are_not(workspace, owner, editor, viewer, connect):
    sheet = await database_sync_to_async(make_sheet)(workspace, owner)
    bob, _ = await connect(viewer, sheet)

    personal = await database_sync_to_async(services.view_create)(
        sheet=sheet, actor=editor, access=Access.EDIT, name="Mine", shared=False, config={}
    )
    assert await bob.no("views")

    shared = await database_sync_to_async(services.view_create)(
        sheet=sheet, actor=editor, access=Access.EDIT, name="Team", shared=True, config={}
    )
    assert await bob.recv_type("views") == {"type": "views", "event": "created", "view": shared.pk}

    await database_sync_to_async(services.view_update)(view=shared, actor=editor, access=Access.EDIT, name="Team 2")
    assert await bob.recv_type("views") == {"type": "views", "event": "changed", "view": shared.pk}

    await database_sync_to_async(services.view_update)(view=shared, actor=editor, access=Access.EDIT, shared=False)
    assert await bob.recv_type("views") == {"type": "views", "event": "deleted", "view": shared.pk}

    await database_sync_to_async(services.view_delete)(view=personal, actor=editor, access=Access.EDIT)
    assert await bob.no("views")
