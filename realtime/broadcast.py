"""The one way sheet events leave the server: scheduled by services, sent after commit."""
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)


def sheet_group(sheet_id):
    return f"sheet.{sheet_id}"


def operation_frame(operation):
    """The `ops` frame every subscriber of the sheet receives for one committed operation."""
    return {
        "type": "ops",
        "version": operation.version,
        "kind": operation.kind,
        "actor": operation.actor_id,
        "op_id": str(operation.op_id) if operation.op_id else None,
        "changes": operation.payload,
    }


def _send(sheet_id, frame):
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(sheet_group(sheet_id), {"type": "sheet.event", "frame": frame})
    except Exception:  # the edit is committed; a lost broadcast is repaired by replay, never by failing the edit
        log.exception("broadcast of sheet %s version %s failed", sheet_id, frame.get("version"))


def broadcast_operation(operation):
    frame = operation_frame(operation)
    transaction.on_commit(lambda: _send(operation.sheet_id, frame))


def broadcast_sheet_deleted(sheet_id):
    transaction.on_commit(lambda: _send(sheet_id, {"type": "deleted", "sheet": sheet_id}))
