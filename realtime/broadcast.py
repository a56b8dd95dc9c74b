"""The one way sheet events leave the server: announced by sheets after commit, published here,
encoded once."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from core.frames import encode

from .bus import get_bus

if TYPE_CHECKING:  # names for the hints only
    from accounts.models import User
    from sheets.models import Operation

log = logging.getLogger(__name__)

COLOURS = [
    "#e6194b",
    "#3cb44b",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#42d4f4",
    "#f032e6",
    "#469990",
    "#9a6324",
    "#800000",
    "#808000",
    "#000075",
]


def operation_frame(operation: Operation) -> dict:
    """The `ops` frame for one committed operation (its schema: realtime/frames.py)."""
    return {
        "type": "ops",
        "version": operation.version,
        "kind": operation.kind,
        "actor": operation.actor_id,
        "op_id": str(operation.op_id) if operation.op_id else None,
        "changes": operation.payload,
    }


def participant(user: User, connection_id: str) -> dict:
    """Who a presence frame names: one connection of a person (a browser tab, or the demo
    collaborator, which has no socket), with the person's name and colour."""
    return {"connection": connection_id, "user": user.pk, "name": user.label, "colour": COLOURS[user.pk % len(COLOURS)]}


def presence_frame(event: str, who: dict, state: dict) -> dict:
    """The `presence` frame: event joined, update or left; `state` is {selection, editing}."""
    return {"type": "presence", "event": event, "who": {**who, **state}}


def publish_presence(sheet_id: int, event: str, who: dict, state: dict) -> None:
    """A presence frame from outside a sheet socket (the demo collaborator) to every connection of
    the sheet, through the bus like a person's."""
    publish(sheet_id, presence_frame(event, who, state), origin=who["connection"])


def publish(sheet_id: int, frame: dict, origin: str | None = None) -> None:
    try:
        get_bus().publish(sheet_id, encode(frame), origin=origin, version=frame.get("version", 0))
    except Exception:  # the change is committed; a lost broadcast is repaired by replay, never by failing it
        log.exception("broadcast to sheet %s failed", sheet_id)


def publish_many(items: list[tuple[int, dict, str | None]]) -> None:
    """items: (sheet id, frame, origin), published in this order, in one round trip to Redis."""
    try:
        get_bus().publish_many(
            [(sheet_id, encode(frame), origin, frame.get("version", 0)) for sheet_id, frame, origin in items]
        )
    except Exception:  # committed; replay repairs a lost broadcast
        log.exception("broadcast of %d frames failed", len(items))


# What sheets announce after a commit (sheets.signals), published to every subscriber of the sheet
# but the connection that asked, which gets an ack. Connected in RealtimeConfig.ready.


def operations_committed(sender: object, operations: list[tuple[Operation, str | None]], **kwargs: object) -> None:
    if len(operations) == 1:
        operation, origin = operations[0]
        publish(operation.sheet_id, operation_frame(operation), origin)
    else:
        publish_many([(operation.sheet_id, operation_frame(operation), origin) for operation, origin in operations])


def sheet_deleted(sender: object, sheet_id: int, **kwargs: object) -> None:
    publish(sheet_id, {"type": "deleted", "sheet": sheet_id})


def view_changed(sender: object, sheet_id: int, view_id: int, event: str, shared: bool, **kwargs: object) -> None:
    """Only shared views are announced: a personal view is nobody else's business."""
    if shared:
        publish(sheet_id, {"type": "views", "event": event, "view": view_id})


def comment_changed(
    sender: object, sheet_id: int, event: str, comment: dict, deleted_ids: list[int], **kwargs: object
) -> None:
    """To everyone on the sheet (realtime.public keeps comments from public links)."""
    publish(sheet_id, {"type": "comment", "event": event, "comment": comment, "deleted": deleted_ids})
