"""The frames ws/sheets/<id>/ sends (docs/realtime.md is the contract; its frame table is rendered
from here): one schema per type, no other keys."""

from core.frames import (
    BOOL,
    INT,
    JSON,
    NUMBER,
    SCALAR,
    STR,
    Depends,
    FrameRegistry,
    ListOf,
    MapOf,
    Record,
    literal,
    named,
    nullable,
    one_of,
    optional,
)

SHEET_FRAMES = FrameRegistry("sheet", "`ws/sheets/<sheet id>/`", "docs/realtime.md")

CELL = named("cell", Record(row=INT, col=STR, value=SCALAR))
# A cell of a paste that did not convert (sheets.services.paste): what was pasted and why not.
SKIPPED = named("skipped cell", Record(row=INT, col=STR, value=STR, message=STR))
COLUMN = named("column", Record(key=STR, name=STR, type=STR, options=MapOf(JSON), position=NUMBER, width=INT))
ROW = named("row", Record(id=INT, position=NUMBER, values=MapOf(SCALAR, "col")))
POSITIONS = MapOf(NUMBER, "row id")
ANCHOR = nullable(one_of(INT, STR))  # a row id, or a column key
# Formula cells recomputed for every row (sheets.services.recompute): in the operation (`computed`,
# or `reload` when too many), or, on a large sheet, `recompute` started in the background, whose
# batches follow as `formulas.compute` operations.
VALUES = MapOf(MapOf(SCALAR, "row id"), "col")
# `after`: the rows up to this id are computed (the batches go by row id), the others not yet.
PROGRESS = {"columns": ListOf(STR), "done": INT, "total": INT, "after": INT}
COMPUTED = {
    "computed": optional(VALUES),
    "reload": optional(literal(True)),
    "recompute": optional(named("recompute", Record(**PROGRESS))),
}


def _changes(**fields):
    # An undo or redo is an operation of the inverse kind that names the version it reverts.
    return Record(**fields, undo_of=optional(INT), redo_of=optional(INT))


CHANGES = {
    "cells.update": _changes(cells=ListOf(CELL)),
    "rows.insert": one_of(
        _changes(rows=ListOf(ROW), after=ANCHOR, before=ANCHOR, repositioned=POSITIONS),
        # the demo's seeded rows (sheets/management/commands/seed_demo.py): how many came, not which
        _changes(bulk=literal(True), count=INT),
    ),
    "rows.delete": _changes(ids=ListOf(INT)),
    # an import into the sheet (and its undo, redo): rows inserted, cells set, rows deleted
    "rows.import": _changes(rows=ListOf(ROW), cells=ListOf(CELL), ids=ListOf(INT)),
    "rows.move": _changes(
        ids=ListOf(INT), positions=ListOf(NUMBER), after=ANCHOR, before=ANCHOR, repositioned=POSITIONS
    ),
    "column.add": _changes(column=COLUMN, **COMPUTED),
    # `formulas`: the options of the formula columns now shown with the new name
    "column.rename": _changes(key=STR, name=STR, formulas=optional(MapOf(MapOf(JSON), "col"))),
    "column.retype": _changes(
        key=STR,
        type=STR,
        options=MapOf(JSON),
        cleared=INT,
        values=nullable(MapOf(SCALAR, "row id")),
        **COMPUTED,
    ),
    "column.move": _changes(key=STR, position=NUMBER, after=ANCHOR, before=ANCHOR),
    "column.delete": _changes(key=STR, **COMPUTED),
    "sheet.create": _changes(name=STR, columns=ListOf(COLUMN)),
    # a batch of a background recompute: the values that changed and the progress (done of total rows)
    "formulas.compute": Record(computed=VALUES, **PROGRESS),
    "sheet.rename": _changes(name=STR),
}
OPERATION = {"version": INT, "kind": named("kind", literal(*CHANGES)), "changes": Depends("kind", CHANGES, "changes")}
# An `ops` frame: live (actor and op_id of the write), or compacted in a viewer's replay (neither).
OPS = named(
    "ops",
    Record(
        type=literal("ops"), **OPERATION, actor=nullable(INT), op_id=nullable(STR), compacted=optional(literal(True))
    ),
)

SELECTION = named("selection", Record(row=optional(JSON), col=optional(JSON), rows=optional(JSON), cols=optional(JSON)))
PERSON = named(
    "person", Record(connection=STR, user=INT, name=STR, colour=STR, selection=nullable(SELECTION), editing=BOOL)
)
ACCESS = named("access", literal("view", "edit", "manage", "own"))

SHEET_FRAMES.register(
    "welcome",
    "first frame: the sheet's version, your access, who you are (null on a public link), who is here (this process)",
    version=INT,
    access=ACCESS,
    you=nullable(Record(connection=STR, user=INT, name=STR, colour=STR)),
    presence=ListOf(PERSON),
)
SHEET_FRAMES.register(
    "ack",
    "your write was committed (a `paste`: with the cells that did not convert, left as they were)",
    op_id=nullable(STR),
    **OPERATION,
    skipped=optional(ListOf(SKIPPED)),
    skipped_count=optional(INT),
)
SHEET_FRAMES.register(
    "ops",
    "someone else's operation (`compacted`: a viewer's replay, without actor and op_id)",
    **{name: kind for name, kind in OPS.of.fields.items() if name != "type"},
)
SHEET_FRAMES.register(
    "replay", "answer to `hello`: the operations after `since` up to `version`", version=INT, ops=ListOf(OPS)
)
SHEET_FRAMES.register("reload", "too far behind (or a viewer that missed rows or columns): load the sheet", version=INT)
SHEET_FRAMES.register(
    "error",
    "a frame was refused (the connection stays, but after `access_revoked` and flooding)",
    code=STR,
    message=STR,
    op_id=optional(nullable(STR)),
    # what a domain error names (core.errors and its subclasses' detail)
    row=optional(nullable(one_of(INT, STR))),
    col=optional(nullable(STR)),
    rows=optional(ListOf(INT)),
    field=optional(STR),
    index=optional(INT),
    position=optional(nullable(INT)),  # where in a formula its error is
    frame=optional(STR),
    retry_after=optional(NUMBER),
    quota=optional(STR),
    limit=optional(INT),
    skipped=optional(ListOf(SKIPPED)),  # a paste of which no cell converted
    skipped_count=optional(INT),
)
SHEET_FRAMES.register(
    "presence",
    "someone joined, moved or left (`who`), or the people of another server process (`members`)",
    event=literal("joined", "update", "left", "snapshot"),
    who=optional(PERSON),
    members=optional(ListOf(PERSON)),
)
SHEET_FRAMES.register("pong", "answer to `ping`: `t` as sent, the sheet's version now", t=JSON, version=INT)
SHEET_FRAMES.register("access", "your access changed", access=ACCESS)
SHEET_FRAMES.register("deleted", "the sheet is gone: close", sheet=INT)
SHEET_FRAMES.register(
    "views",
    "a shared saved view was created, changed or deleted (or made personal): read GET .../views/ again",
    event=literal("created", "changed", "deleted"),
    view=INT,
)

PERSON_REF = named("person ref", Record(id=INT, name=STR))
# A comment as sheets.comments.comment_dict makes it (the same as the REST answer).
COMMENT = named(
    "comment",
    Record(
        id=INT,
        sheet=INT,
        row=INT,
        col=STR,
        thread=nullable(INT),
        author=nullable(PERSON_REF),
        body=STR,
        mentions=ListOf(PERSON_REF),
        resolved=BOOL,
        resolved_at=nullable(STR),
        resolved_by=nullable(PERSON_REF),
        created_at=STR,
        edited_at=nullable(STR),
    ),
)
SHEET_FRAMES.register(
    "comment",
    "a comment was written, edited or deleted, or its thread resolved or reopened (`comment`: the thread's first"
    " one then); `deleted`: the ids gone (a thread's first comment takes its replies). Not sent to public links",
    event=literal("created", "changed", "deleted", "resolved", "reopened"),
    comment=COMMENT,
    deleted=ListOf(INT),
)
