"""realtime.protocol: what clients send, parsed and checked before anything happens."""

import json
import uuid

import pytest

from realtime import protocol
from realtime.protocol import FrameTooLarge, ProtocolError

OP_ID = "a98be56e-cdaf-411a-ac26-689bf7a91167"


def test_parse_gives_the_type_and_the_frame():
    assert protocol.parse('{"type": "hello", "since": 3}') == ("hello", {"type": "hello", "since": 3})
    assert protocol.parse(json.dumps({"type": "edit", "op_id": OP_ID, "cells": []}))[0] == "edit"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "frames are JSON text"),
        ("[1, 2]", "must be a JSON object"),
        ('"hello"', "must be a JSON object"),
        ('{"type": "drop_table"}', "unknown frame type 'drop_table'"),
        ('{"since": 1}', "unknown frame type 'None'"),
        ("{nope", "frame is not valid"),
        ('{"type": "edit", "x": NaN}', "frame is not valid"),
    ],
)
def test_parse_refuses_what_is_not_a_client_frame(text, message):
    with pytest.raises(ProtocolError, match=message) as refused:
        protocol.parse(text)
    assert refused.value.code == "bad_frame"


def test_a_malformed_or_unknown_frame_is_answered_with_its_op_id_when_one_is_found():
    with pytest.raises(ProtocolError) as malformed:
        protocol.parse(f'{{"type": "edit", "op_id": "{OP_ID}", "cells": [')
    assert malformed.value.detail["op_id"] == OP_ID
    with pytest.raises(ProtocolError) as unknown:
        protocol.parse(json.dumps({"type": "nope", "op_id": "x" * 65}))
    assert unknown.value.detail["op_id"] is None  # too long to be an op_id: not echoed


def test_a_frame_over_the_limit_is_too_large_and_names_the_op_id_near_its_end():
    text = '{"cells": "' + "x" * protocol.MAX_FRAME_BYTES + f'", "op_id": "{OP_ID}", "type": "edit"}}'
    with pytest.raises(FrameTooLarge) as refused:
        protocol.parse(text)
    assert refused.value.code == "too_large" and refused.value.detail["op_id"] == OP_ID


def test_write_call_names_the_service_and_passes_only_the_given_fields():
    service, kwargs = protocol.write_call(
        "add_column",
        {"type": "add_column", "name": "Due", "col_type": "date", "after": None, "width": 140, "unknown": 1},
    )
    assert service == "column_add"
    assert kwargs == {"name": "Due", "type": "date", "width": 140, "op_id": None}


def test_write_call_normalizes_the_op_id_and_requires_it_for_edits():
    _, kwargs = protocol.write_call("delete_rows", {"row_ids": [1], "op_id": OP_ID.upper()})
    assert kwargs == {"row_ids": [1], "op_id": OP_ID}
    assert protocol.write_call("edit", {"cells": [], "op_id": uuid.UUID(OP_ID).hex})[1]["op_id"] == OP_ID
    with pytest.raises(ProtocolError, match="op_id .* is required"):
        protocol.write_call("edit", {"cells": []})
    with pytest.raises(ProtocolError, match="op_id must be a UUID"):
        protocol.write_call("undo", {"op_id": "not-a-uuid"})


def test_every_write_is_a_service_of_sheets():
    from sheets import services, undo

    for kind, (service, _) in protocol.WRITES.items():
        assert callable(getattr(undo if service.startswith("operation_") else services, service)), kind


@pytest.mark.parametrize("since", [0, 1, 10**12])
def test_since_is_a_whole_number_from_zero(since):
    assert protocol.since({"since": since}) == since


@pytest.mark.parametrize("since", [None, -1, 1.5, "3", True, [1]])
def test_since_refuses_anything_else(since):
    with pytest.raises(ProtocolError, match="hello needs since"):
        protocol.since({"since": since})


def test_presence_keeps_a_selection_and_makes_editing_a_boolean():
    assert protocol.presence({"selection": {"row": 1, "col": "c2"}, "editing": 1}) == {
        "selection": {"row": 1, "col": "c2"},
        "editing": True,
    }
    assert protocol.presence({}) == {"selection": None, "editing": False}
    ranged = {"rows": [1, 4], "cols": ["c1", "c3"]}
    assert protocol.presence({"selection": ranged})["selection"] == ranged


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ({"row": 1, "script": "x"}, "selection is"),
        ([1, 2], "selection is"),
        ({"rows": list(range(200))}, "too large"),
    ],
)
def test_presence_refuses_a_selection_that_is_not_one(selection, message):
    with pytest.raises(ProtocolError, match=message):
        protocol.presence({"selection": selection})
