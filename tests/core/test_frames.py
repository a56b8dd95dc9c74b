"""core.frames: the schemas of the frames the server sends, their encoding, and the docs made from them."""

import datetime
import decimal
import math
from pathlib import Path

import pytest

from core import frames
from core.frames import FrameInvalid, Unencodable, encode, load_registries

REPO = Path(__file__).resolve().parents[2]
PERSON = {
    "connection": "9ffe1df1849642d4",
    "user": 2,
    "name": "user1",
    "colour": "#4363d8",
    "selection": {"row": 1, "col": "c2"},
    "editing": True,
}
CELLS = {"cells": [{"row": 1, "col": "c2", "value": 12.5}, {"row": 2, "col": "c1", "value": None}]}
NOTIFICATION = {
    "id": 71,
    "workspace": 1,
    "kind": "alert",
    "rule": 3,
    "message": "Revenue above 100",
    "value": 120.0,
    "link": "/workspaces/1/dashboard/",
    "created_at": "2026-03-02T12:01:03Z",
    "read_at": None,
    "rule_name": "Revenue",
    "state": "firing",
}

# A valid frame of every registered type (a type registered without one fails test_every_type_has_an_example).
EXAMPLES = {
    "sheet": {
        "welcome": {
            "type": "welcome",
            "version": 2,
            "access": "edit",
            "presence": [PERSON],
            "you": {"connection": "9ffe1df1849642d4", "user": 2, "name": "user1", "colour": "#4363d8"},
        },
        "ack": {
            "type": "ack",
            "op_id": "a98be56e-cdaf-411a-ac26-689bf7a91167",
            "version": 3,
            "kind": "cells.update",
            "changes": CELLS,
        },
        "ops": {
            "type": "ops",
            "version": 4,
            "kind": "rows.insert",
            "actor": 1,
            "op_id": None,
            "changes": {
                "after": 1,
                "before": None,
                "rows": [{"id": 3, "position": 1.5, "values": {"c1": "Bob"}}],
                "repositioned": {"7": 2.25},
            },
        },
        "replay": {
            "type": "replay",
            "version": 9,
            "ops": [
                {
                    "type": "ops",
                    "version": 9,
                    "kind": "cells.update",
                    "actor": None,
                    "op_id": None,
                    "compacted": True,
                    "changes": CELLS,
                }
            ],
        },
        "reload": {"type": "reload", "version": 1520},
        "error": {
            "type": "error",
            "op_id": None,
            "code": "invalid_value",
            "message": "Amount: 'lots' is not a number",
            "row": 1,
            "col": "c2",
        },
        "presence": {"type": "presence", "event": "joined", "who": PERSON},
        "pong": {"type": "pong", "t": 1700000000000, "version": 14},
        "access": {"type": "access", "access": "view"},
        "deleted": {"type": "deleted", "sheet": 1},
        "views": {"type": "views", "event": "changed", "view": 3},
        "comment": {
            "type": "comment",
            "event": "created",
            "comment": {
                "id": 4,
                "sheet": 1,
                "row": 17,
                "col": "c2",
                "thread": None,
                "author": {"id": 2, "name": "Ann"},
                "body": "<b>look</b> @Bo",
                "mentions": [{"id": 3, "name": "Bo"}],
                "resolved": False,
                "resolved_at": None,
                "resolved_by": None,
                "created_at": "2026-03-02T12:01:03Z",
                "edited_at": None,
            },
            "deleted": [],
        },
    },
    "dashboard": {
        "welcome": {"type": "welcome", "workspace": 1, "access": "view"},
        "subscribed": {"type": "subscribed", "widgets": ["w1", "w2"]},
        "data": {
            "type": "data",
            "widget": "w1",
            "at": "2026-03-02T12:01:03.412551+00:00",
            "as_of_ms": 1772452863379,
            "result": {"metric": "orders", "agg": "sum", "series": [], "totals": [{"group": None, "value": 3}]},
        },
        "notification": {"type": "notification", "notification": NOTIFICATION},
        "pong": {"type": "pong", "t": 5},
        "error": {"type": "error", "code": "rate_limited", "frame": "ping", "message": "too many", "retry_after": 0.2},
        "revoked": {"type": "revoked", "code": "access_revoked", "message": "you no longer have access"},
    },
    "notifications": {
        "welcome": {"type": "welcome", "workspaces": [1, 2]},
        "notification": {"type": "notification", "notification": NOTIFICATION},
    },
}
CASES = [(registry, name) for registry, examples in EXAMPLES.items() for name in examples]


def test_every_type_has_an_example():
    registered = {(registry.name, name) for registry in load_registries().values() for name in registry.types}
    assert registered == set(CASES)


@pytest.mark.parametrize(("registry", "name"), CASES)
def test_a_valid_frame_passes(registry, name):
    load_registries()[registry].check(EXAMPLES[registry][name])


@pytest.mark.parametrize(("registry", "name"), CASES)
def test_an_extra_key_fails(registry, name):
    with pytest.raises(FrameInvalid, match="unexpected key 'surprise'"):
        load_registries()[registry].check({**EXAMPLES[registry][name], "surprise": 1})


@pytest.mark.parametrize(("registry", "name"), CASES)
def test_a_value_of_the_wrong_type_fails_in_every_field(registry, name):
    example = EXAMPLES[registry][name]
    for key in example:
        for wrong in (object(), {"nested": object()}, [math.nan]):
            with pytest.raises(FrameInvalid):
                load_registries()[registry].check({**example, key: wrong})


@pytest.mark.parametrize(("registry", "name"), CASES)
def test_a_required_field_left_out_fails(registry, name):
    example = EXAMPLES[registry][name]
    schema = load_registries()[registry].types[name].schema
    for key in schema.required - {"type"}:
        with pytest.raises(FrameInvalid, match=f"'{key}' is missing"):
            load_registries()[registry].check({k: v for k, v in example.items() if k != key})


@pytest.mark.parametrize(
    ("frame", "where"),
    [
        (
            {"type": "ack", "op_id": None, "version": "3", "kind": "cells.update", "changes": CELLS},
            "version: int expected",
        ),
        (
            {"type": "ack", "op_id": None, "version": True, "kind": "cells.update", "changes": CELLS},
            "version: int expected",
        ),
        (
            {
                "type": "ack",
                "op_id": None,
                "version": 3,
                "kind": "cells.update",
                "changes": {"cells": [{"row": 1, "col": "c1"}]},
            },
            r"changes.cells\[0\]: 'value' is missing",
        ),
        (
            {
                "type": "ack",
                "op_id": None,
                "version": 3,
                "kind": "cells.update",
                "changes": {"cells": [{"row": 1, "col": "c1", "value": [1]}]},
            },
            r"changes.cells\[0\].value",
        ),
        (
            {"type": "ack", "op_id": None, "version": 3, "kind": "column.delete", "changes": CELLS},
            "unexpected key 'cells'",
        ),
        ({"type": "ack", "op_id": None, "version": 3, "kind": "rows.vanish", "changes": {}}, "kind: one of"),
        (
            {
                "type": "ops",
                "version": 3,
                "kind": "rows.move",
                "actor": 1,
                "op_id": None,
                "changes": {"ids": [1], "positions": [1.0], "after": None, "before": None, "repositioned": {1: 2.0}},
            },
            "key 1 is not text",
        ),
        ({"type": "presence", "event": "moved", "who": PERSON}, "event: one of"),
        (
            {"type": "welcome", "version": 1, "access": "edit", "you": PERSON, "presence": []},
            "unexpected key 'selection'",
        ),
    ],
)
def test_sheet_frames_name_what_is_wrong(frame, where):
    with pytest.raises(FrameInvalid, match=where):
        load_registries()["sheet"].check(frame)


def test_an_unknown_type_or_a_frame_that_is_no_object_fails():
    sheet = load_registries()["sheet"]
    with pytest.raises(FrameInvalid, match="unknown frame type 'subscribed'"):
        sheet.check({"type": "subscribed", "widgets": []})  # a dashboard frame
    with pytest.raises(FrameInvalid, match="unknown frame type None"):
        sheet.check({"version": 1})
    with pytest.raises(FrameInvalid, match="is an object"):
        sheet.check([{"type": "reload", "version": 1}])


def test_a_type_is_registered_once():
    with pytest.raises(ValueError, match="registered already"):
        load_registries()["sheet"].register("ack", "again")


# --- encode -------------------------------------------------------------------------------------------


def test_encode_is_compact_utf8_json():
    assert (
        encode({"type": "pong", "t": "é€", "version": 1, "list": (1, 2.5, None, True)})
        == '{"type":"pong","t":"é€","version":1,"list":[1,2.5,null,true]}'
    )


@pytest.mark.parametrize(
    "value",
    [
        datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        datetime.date(2026, 1, 1),
        {1, 2},
        decimal.Decimal("1.5"),
        b"bytes",
        object(),
        math.nan,
        math.inf,
        -math.inf,
    ],
)
def test_encode_refuses_what_json_cannot_represent_instead_of_stringifying_it(value):
    with pytest.raises(Unencodable) as refused:
        encode({"type": "pong", "t": {"deep": [value]}, "version": 1})
    assert isinstance(refused.value, TypeError)


def test_encode_refuses_a_circular_frame():
    frame = {"type": "pong"}
    frame["t"] = frame
    with pytest.raises(Unencodable):
        encode(frame)


# --- the docs -------------------------------------------------------------------------------------------


def test_the_docs_show_the_frames_as_registered():
    """docs/realtime.md and docs/dashboards.md carry tables rendered from the registries; after a
    change of a frame type, `manage.py frames_doc` writes them anew."""
    stale = frames.doc_updates(REPO)
    assert not stale, f"out of date: {sorted(str(p.relative_to(REPO)) for p in stale)}: run `manage.py frames_doc`"


def test_rewrite_doc_replaces_only_the_section_between_the_markers():
    registry = load_registries()["dashboard"]
    page = "# Title\n\nbefore\n<!-- frames:dashboard:begin -->\nold\n<!-- frames:dashboard:end -->\nafter\n"
    text = frames.rewrite_doc(page, registry)
    assert text.startswith("# Title\n\nbefore\n<!-- frames:dashboard:begin -->\nGenerated from `dashboard`")
    assert text.endswith("<!-- frames:dashboard:end -->\nafter\n") and "\nold\n" not in text
    assert "| `subscribed` | `widgets: [str]` |" in text
    with pytest.raises(ValueError, match="no <!-- frames:dashboard:begin -->"):
        frames.rewrite_doc("# no markers\n", registry)


def test_frames_doc_rewrites_a_stale_page_and_check_says_so(settings, tmp_path):
    from django.core.management import CommandError, call_command

    (tmp_path / "docs").mkdir()
    for name in ("realtime.md", "dashboards.md"):
        text = (REPO / "docs" / name).read_text()
        stale = frames.rewrite_doc(text, load_registries()["sheet"]) if name == "realtime.md" else text
        (tmp_path / "docs" / name).write_text(
            stale.replace("| `deleted` | `sheet: int` |", "| `deleted` | `sheet: str` |")
        )
    settings.BASE_DIR = tmp_path
    with pytest.raises(CommandError, match="docs/realtime.md"):
        call_command("frames_doc", "--check")
    call_command("frames_doc")
    assert (tmp_path / "docs" / "realtime.md").read_text() == (REPO / "docs" / "realtime.md").read_text()
    call_command("frames_doc", "--check")


def test_error_frames_are_shaped_in_one_place():
    from core.errors import NotFound
    from core.frames import error_frame

    assert error_frame(NotFound("no such row", row=7), op_id=None) == {
        "type": "error",
        "op_id": None,
        "code": "not_found",
        "message": "no such row",
        "row": 7,
    }
    assert error_frame("rate_limited", "slow down", frame="edit") == {
        "type": "error",
        "code": "rate_limited",
        "message": "slow down",
        "frame": "edit",
    }
    assert "op_id" not in error_frame("invalid", "bad")
    assert error_frame(NotFound("gone"), code="invalid")["code"] == "invalid"
