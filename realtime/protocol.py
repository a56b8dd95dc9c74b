"""The WebSocket frames of ws/sheets/<id>/ (docs/realtime.md is the contract): parsing and
validation of what clients send. Anything malformed becomes a ProtocolError and changes nothing."""

import json
import re
import uuid

from core import jsonio
from core.errors import GridcastError

MAX_FRAME_BYTES = 512 * 1024


class ProtocolError(GridcastError):
    code = "bad_frame"


class FrameTooLarge(ProtocolError):
    code = "too_large"


def _op_id(frame, required):
    raw = frame.get("op_id")
    if raw is None:
        if required:
            raise ProtocolError("op_id (a UUID) is required")
        return None
    try:
        return str(uuid.UUID(str(raw)))
    except ValueError:
        raise ProtocolError("op_id must be a UUID") from None


# Frame type -> (service, the frame fields passed to it)
WRITES = {
    "edit": ("cells_update", ("cells",)),
    "paste": ("cells_paste", ("cells",)),
    "insert_rows": ("rows_insert", ("count", "rows", "after", "before")),
    "delete_rows": ("rows_delete", ("row_ids",)),
    "move_rows": ("rows_move", ("row_ids", "after", "before")),
    "add_column": ("column_add", ("name", "col_type", "options", "after", "before", "width")),
    "rename_column": ("column_rename", ("key", "name")),
    "retype_column": ("column_retype", ("key", "col_type", "options")),
    "move_column": ("column_move", ("key", "after", "before")),
    "delete_column": ("column_delete", ("key",)),
    "undo": ("operation_undo", ()),
    "redo": ("operation_redo", ()),
}
READS = {"hello", "presence", "ping"}


# The op_id of a frame that cannot be parsed (too large, malformed): looked for near its start and
# its end only, where clients put it, so that the error names the write it answers.
_OP_ID = re.compile(r'(?<!\\)"op_id"\s*:\s*"([0-9a-fA-F-]{32,36})"')
OP_ID_SCAN = 1024


def _op_id_in(text):
    found = _OP_ID.search(text, 0, OP_ID_SCAN) or _OP_ID.search(text, max(0, len(text) - OP_ID_SCAN))
    return _safe_op_id({"op_id": found.group(1)}) if found else None


def parse(text: str | None) -> tuple[str, dict]:
    """(type, frame) of a client frame, or ProtocolError."""
    if text is None:
        raise ProtocolError("frames are JSON text")
    if len(text) > MAX_FRAME_BYTES:
        raise FrameTooLarge(f"frame larger than {MAX_FRAME_BYTES} bytes", op_id=_op_id_in(text))
    try:
        frame = jsonio.loads(text)
    except jsonio.JsonInvalid as error:
        raise ProtocolError(f"frame is not valid: {error.message}", op_id=_op_id_in(text), **error.detail) from None
    if not isinstance(frame, dict):
        raise ProtocolError("frame must be a JSON object")
    kind = frame.get("type")
    if kind not in WRITES and kind not in READS:
        raise ProtocolError(f"unknown frame type {str(kind)[:40]!r}", op_id=_safe_op_id(frame))
    return kind, frame


def _safe_op_id(frame):
    raw = frame.get("op_id")
    return raw if isinstance(raw, str) and len(raw) <= 64 else None


def write_call(kind: str, frame: dict) -> tuple[str, dict]:
    """The service name and its keyword arguments for a write frame."""
    service, fields = WRITES[kind]
    kwargs = {}
    for field in fields:
        if field in frame and frame[field] is not None:
            kwargs["type" if field == "col_type" else field] = frame[field]
    kwargs["op_id"] = _op_id(frame, required=kind == "edit")
    return service, kwargs


def since(frame: dict) -> int:
    value = frame.get("since")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProtocolError("hello needs since: the last version the client applied (0 for none)")
    return value


def presence(frame: dict) -> dict:
    selection = frame.get("selection")
    if selection is not None:
        if not isinstance(selection, dict) or set(selection) - {"row", "col", "rows", "cols"}:
            raise ProtocolError("selection is {row, col} or {rows: [first, last], cols: [first, last]}")
        if len(json.dumps(selection)) > 500:
            raise ProtocolError("selection is too large")
    return {"selection": selection, "editing": bool(frame.get("editing", False))}
