// The sheet model without a browser: rows by window from a fake API, operations applied in
// version order, one's own edits shown until acknowledged, refused values kept with the reason.
import { beforeEach, describe, expect, test, vi } from "vitest";

import { BLOCK_ROWS, SheetModel } from "./model.js";

const COLUMNS = [
  { key: "b", name: "Amount", type: "number", position: 2 },
  { key: "a", name: "Name", type: "text", position: 1 },
];

/** A sheet of `total` rows (ids 1..total, values {a: "r<id>"}) at `version`, answering the rows API. */
function fakeApi({ total = 250, version = 5 } = {}) {
  const state = { total, version, calls: [] };
  state.api = vi.fn(async (method, url) => {
    state.calls.push(url);
    const params = new URL(url, "http://x").searchParams;
    const offset = Number(params.get("offset"));
    const limit = Number(params.get("limit"));
    const rows = [];
    for (let i = offset; i < Math.min(offset + limit, state.total); i++) rows.push({ id: i + 1, values: { a: `r${i + 1}`, b: i } });
    return { rows, total: state.total, version: state.version };
  });
  return state;
}

function fakeSocket() {
  return { frames: [], write(frame) { frame.op_id ||= crypto.randomUUID(); this.frames.push(frame); return frame.op_id; } };
}

let server;
let model;
let events;

function newModel(version = 5) {
  model = new SheetModel({ sheetId: 1, columns: COLUMNS, version, api: server.api });
  model.socket = fakeSocket();
  events = { change: [], flash: [], total: [] };
  model.on("change", (what) => events.change.push(what));
  model.on("flash", (row, col) => events.flash.push([row, col]));
  model.on("total", (n) => events.total.push(n));
  return model;
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));
const cells = (version, list, extra = {}) => ({ version, kind: "cells.update", actor: 2, changes: { cells: list }, ...extra });

beforeEach(() => {
  server = fakeApi();
  newModel();
});

test("columns are kept in position order", () => {
  expect(model.columns.map((c) => c.key)).toEqual(["a", "b"]);
  expect(model.column("b").name).toBe("Amount");
});

test("frozen columns lead the shown ones, by key or by count, hidden ones left out", () => {
  model.setColumns([...COLUMNS, { key: "c", name: "Note", type: "text", position: 3 }]);
  model.setLayout({ hidden: [], order: [], frozen: ["c"] });
  expect([model.columns.map((c) => c.key), model.frozen, model.frozenKeys()]).toEqual([["c", "a", "b"], 1, ["c"]]);
  model.setLayout({ hidden: ["c"], order: ["b"], frozen: ["c", "b"] });
  expect([model.columns.map((c) => c.key), model.frozen]).toEqual([["b", "a"], 1]);
  model.setLayout({ hidden: [], order: ["b"], frozen: 2 });
  expect([model.frozenKeys(), model.frozen]).toEqual([["b", "a"], 2]);
  model.setLayout({ hidden: ["a", "b"], order: [], frozen: 2 });
  expect(model.frozen).toBe(1);
});

describe("rows by window", () => {
  test("a row not loaded is fetched by block, once, and the total learned", async () => {
    expect(model.rowAt(150)).toBeUndefined();
    expect(model.rowAt(160)).toBeUndefined();
    await flush();
    expect(server.calls).toEqual(["/api/v1/sheets/1/rows/?offset=100&limit=100"]);
    expect(model.rowAt(150)).toMatchObject({ id: 151, values: { a: "r151" } });
    expect(model.isLoaded(150) && !model.isLoaded(0)).toBe(true);
    expect(model.total).toBe(250);
    expect(events.total).toEqual([250]);
  });

  test("rowsFrom loads what is missing and stops at the end (once the total is known)", async () => {
    await model.rowsFrom(0, 1);
    const rows = await model.rowsFrom(240, 20);
    expect(server.calls).toHaveLength(2);
    expect(rows.map((r) => r.id)).toEqual([241, 242, 243, 244, 245, 246, 247, 248, 249, 250]);
    expect(BLOCK_ROWS).toBe(100);
  });

  test("the view's sort and filters go into the request", async () => {
    model.setView({ sort: "-b", filters: [["a", "contains", "x"]] });
    await model.rowsFrom(0, 1);
    expect(server.calls.at(-1)).toBe("/api/v1/sheets/1/rows/?offset=0&limit=100&sort=-b&filter=a%3Acontains%3Ax");
  });

  test("a block fetched at an older version gets the newer changes from the log", async () => {
    newModel(5);
    server.version = 5;
    model.apply(cells(6, [{ row: 3, col: "a", value: "new" }]), false);
    await model.rowsFrom(0, 10);
    expect(model.rowAt(2).values.a).toBe("new");
  });
});

describe("operations", () => {
  beforeEach(async () => {
    await model.rowsFrom(0, 100);
    events.change.length = 0;
  });

  test("a cell update changes the row, moves the version and flashes others' edits", () => {
    model.apply(cells(6, [{ row: 1, col: "a", value: "x" }]), false);
    expect(model.rowAt(0).values.a).toBe("x");
    expect(model.version).toBe(6);
    expect(events.flash).toEqual([[1, "a"]]);
    expect(events.change.at(-1).op.version).toBe(6);
  });

  test("an operation older than the row's snapshot does not overwrite it", () => {
    model.rowAt(0).v = 9;
    model.apply(cells(6, [{ row: 1, col: "a", value: "old" }]), false);
    expect(model.rowAt(0).values.a).toBe("r1");
  });

  test("rows inserted or deleted change the total and refetch the windows", () => {
    const generation = model.generation;
    model.apply({ version: 6, kind: "rows.insert", changes: { rows: [{}, {}] } }, false);
    expect(model.total).toBe(252);
    model.apply({ version: 7, kind: "rows.delete", changes: { ids: [1, 2, 3] } }, false);
    expect(model.total).toBe(249);
    model.apply({ version: 8, kind: "rows.move", changes: {} }, false);
    expect(model.generation).toBe(generation + 3);
    expect(model.isLoaded(0)).toBe(false);
    expect(model.rowAt(0)).toMatchObject({ id: 1 }); // the old window shows until the new one comes
  });

  test("an import adds rows, sets cells and (undone) deletes rows", () => {
    const generation = model.generation;
    model.apply({ version: 6, kind: "rows.import", changes: { rows: [{}, {}], cells: [{ row: 1, col: "a", value: "new" }], ids: [] } }, false);
    expect(model.total).toBe(252);
    expect(model.rowAt(0).values.a).toBe("new");
    model.apply({ version: 7, kind: "rows.import", changes: { rows: [], cells: [], ids: [1, 2], undo_of: 6 } }, false);
    expect(model.total).toBe(250);
    expect(model.generation).toBe(generation + 2);
  });

  test("a restore brings rows back, deletes others, sets cells and columns", () => {
    const generation = model.generation;
    const columns = [{ key: "b", name: "B", type: "text", options: {}, position: 1, width: 100 }];
    const changes = { version: 3, scope: "sheet", rows: [{}, {}, {}], ids: [2], positions: {}, cells: [{ row: 1, col: "a", value: "back" }], columns };
    model.apply({ version: 6, kind: "sheet.restore", changes }, false);
    expect(model.total).toBe(252);
    expect(model.rowAt(0).values.a).toBe("back");
    expect(model.allColumns.map((c) => c.key)).toEqual(["b"]);
    expect(model.generation).toBe(generation + 1);
    const cellOnly = { version: 3, scope: "cell", rows: [], ids: [], positions: {}, cells: [{ row: 1, col: "a", value: "again" }] };
    model.apply({ version: 7, kind: "sheet.restore", changes: cellOnly }, false);
    expect(model.rowAt(0).values.a).toBe("again");
    expect(model.generation).toBe(generation + 1); // a cell restored: no reload
  });

  test("with a filter on, inserted rows do not guess the total", () => {
    model.view.filters = [["a", "eq", "x"]];
    model.apply({ version: 6, kind: "rows.insert", changes: { rows: [{}] } }, false);
    expect(model.total).toBe(250);
  });

  test("column add, rename, move, retype and delete", () => {
    model.apply({ version: 6, kind: "column.add", changes: { column: { key: "c", name: "Due", type: "date", position: 0 } } }, false);
    expect(model.columns.map((c) => c.key)).toEqual(["c", "a", "b"]);
    model.apply({ version: 7, kind: "column.rename", changes: { key: "c", name: "When" } }, false);
    model.apply({ version: 8, kind: "column.move", changes: { key: "c", position: 3 } }, false);
    expect(model.columns.map((c) => c.name)).toEqual(["Name", "Amount", "When"]);
    model.apply({ version: 9, kind: "column.retype", changes: { key: "a", type: "integer", values: { 1: 10 } } }, false);
    expect(model.column("a")).toMatchObject({ type: "integer", options: {} });
    expect(model.rowAt(0).values.a).toBe(10);
    model.apply({ version: 10, kind: "column.delete", changes: { key: "b" } }, false);
    expect(model.columns.map((c) => c.key)).toEqual(["a", "c"]);
    expect(model.version).toBe(10);
  });

  test("a background recompute: its progress, and its batches' values", () => {
    const formula = { key: "t", name: "Total", type: "formula", position: 5, options: { formula: "[Amount] * 2" } };
    model.apply({ version: 6, kind: "column.add", changes: { column: formula, recompute: { columns: ["t"], done: 0, total: 3, after: 0 } } }, false);
    expect(model.recompute).toEqual({ columns: ["t"], done: 0, total: 3, after: 0 });
    expect(model.cell(model.rowAt(0), "t")).toEqual({ value: null, recomputing: true }); // not reached yet
    model.apply({ version: 7, kind: "formulas.compute", changes: { columns: ["t"], computed: { t: { 1: 0, 2: 2 } }, done: 2, total: 3, after: 2 } }, false);
    expect(model.recompute).toEqual({ columns: ["t"], done: 2, total: 3, after: 2 });
    expect([model.cell(model.rowAt(0), "t"), model.cell(model.rowAt(1), "t")]).toEqual([{ value: 0 }, { value: 2 }]);
    expect(model.cell(model.rowAt(2), "t").recomputing).toBe(true);
    expect(model.cell(model.rowAt(2), "a")).toEqual({ value: "r3" }); // another column: final
    model.apply({ version: 8, kind: "formulas.compute", changes: { columns: ["t"], computed: { t: { 3: 4 } }, done: 3, total: 3, after: 3 } }, false);
    expect(model.recompute).toBeNull();
    expect(model.cell(model.rowAt(2), "t")).toEqual({ value: 4 });
    expect(model.version).toBe(8);
  });
});

describe("one's own edits", () => {
  beforeEach(() => model.rowsFrom(0, 10));

  test("shown at once as pending, sent as one edit, settled by the ack", () => {
    const [id] = model.setCells([{ row: 1, col: "a", value: "mine" }, { row: 2, col: "a", value: "" }]);
    expect(model.socket.frames).toEqual([{ type: "edit", op_id: id, cells: [{ row: 1, col: "a", value: "mine" }, { row: 2, col: "a", value: null }] }]);
    const row = model.rowAt(0);
    expect(model.cell(row, "a")).toEqual({ value: "mine", pending: true });
    model.apply(cells(6, [{ row: 1, col: "a", value: "mine" }], { op_id: id, actor: null }), true);
    expect(model.cell(row, "a")).toEqual({ value: "mine" });
    expect(events.flash).toEqual([]); // one's own edit does not flash
  });

  test("split into batches of maxCells", () => {
    const ids = model.setCells([1, 2, 3, 4, 5].map((row) => ({ row, col: "a", value: "v" })), 2);
    expect(ids).toHaveLength(3);
    expect(model.socket.frames.map((f) => f.cells.length)).toEqual([2, 2, 1]);
  });

  test("a newer edit of the same cell stays pending when the older one is acknowledged", () => {
    const [first] = model.setCells([{ row: 1, col: "a", value: "one" }]);
    model.setCells([{ row: 1, col: "a", value: "two" }]);
    model.settle(first);
    expect(model.cell(model.rowAt(0), "a")).toEqual({ value: "two", pending: true });
  });

  test("a refused value stays in the cell with the reason until cleared", () => {
    const [id] = model.setCells([{ row: 1, col: "b", value: "abc" }]);
    const write = model.socket.frames[0];
    model.refused({ type: "error", op_id: id, row: 1, col: "b", message: "Not a number" }, write);
    const row = model.rowAt(0);
    expect(model.cell(row, "b")).toEqual({ value: "abc", error: "Not a number" });
    model.clearError(1, "b");
    expect(model.cell(row, "b")).toEqual({ value: 0 });
  });
});

describe("a paste", () => {
  beforeEach(() => model.rowsFrom(0, 10));

  test("is sent as text; the cells the ack names as skipped keep their text and reason", () => {
    const said = [];
    model.on("pasted", (...args) => said.push(["pasted", ...args]));
    model.on("refused", (...args) => said.push(["refused", ...args]));
    const [id] = model.paste([{ row: 1, col: "b", value: "1,234.5" }, { row: 2, col: "b", value: "abc" }, { row: 3, col: "b", value: "" }]);
    expect(model.socket.frames).toEqual([
      { type: "paste", op_id: id, cells: [{ row: 1, col: "b", value: "1,234.5" }, { row: 2, col: "b", value: "abc" }, { row: 3, col: "b", value: "" }] },
    ]);
    expect(model.cell(model.rowAt(0), "b")).toEqual({ value: "1,234.5", pending: true });
    const skipped = [{ row: 2, col: "b", value: "abc", message: "'abc' is not a number" }];
    const applied = [{ row: 1, col: "b", value: 1234.5 }, { row: 3, col: "b", value: null }];
    model.apply(cells(6, applied, { op_id: id, actor: null, skipped, skipped_count: 1 }), true);
    expect(model.cell(model.rowAt(0), "b")).toEqual({ value: 1234.5 });
    expect(model.cell(model.rowAt(1), "b")).toEqual({ value: "abc", error: "'abc' is not a number" });
    expect(said).toEqual([["refused", 2, "b", "'abc' is not a number"], ["pasted", id, skipped, 1]]);
  });

  test("of which nothing converts is refused with every cell named", () => {
    const [id] = model.paste([{ row: 1, col: "b", value: "x" }]);
    const skipped = [{ row: 1, col: "b", value: "x", message: "'x' is not a number" }];
    model.refused({ type: "error", op_id: id, code: "invalid_value", message: "nothing pasted", skipped, skipped_count: 1 }, model.socket.frames[0]);
    expect(model.cell(model.rowAt(0), "b")).toEqual({ value: "x", error: "'x' is not a number" });
  });
});

test("writeAndWait resolves with the ack, rejects with the error", async () => {
  const inserted = model.writeAndWait({ type: "insert_rows", count: 1 });
  const opId = model.socket.frames[0].op_id;
  model.apply({ version: 6, kind: "rows.insert", op_id: opId, actor: null, changes: { rows: [{ id: 99 }] } }, true);
  expect((await inserted).changes.rows[0].id).toBe(99);
  const refused = model.writeAndWait({ type: "insert_rows", count: 1 });
  model.refused({ type: "error", message: "too many rows" }, model.socket.frames[1]);
  await expect(refused).rejects.toThrow("too many rows");
});

test("reload starts over from the snapshot", async () => {
  server.api.mockImplementationOnce(async () => ({ columns: [{ key: "z", name: "Z", type: "text", position: 0 }], version: 40 }));
  model.apply(cells(6, [{ row: 1, col: "a", value: "x" }]), false);
  await model.reload();
  expect(model.version).toBe(40);
  expect(model.logFloor).toBe(40);
  expect(model.log).toEqual([]);
  expect(model.columns.map((c) => c.key)).toEqual(["z"]);
});
