import { describe, expect, test } from "vitest";
import { touches, what } from "./history.js";

describe("touches", () => {
  const edit = { kind: "cells.update", changes: { cells: [{ row: 7, col: "c1", value: "x" }] } };

  test("a cell edit touches its cell and its row, not another", () => {
    expect(touches(edit, 7, "c1")).toBe(true);
    expect(touches(edit, 7)).toBe(true);
    expect(touches(edit, 7, "c2")).toBe(false);
    expect(touches(edit, 8)).toBe(false);
  });

  test("rows inserted, deleted and imported touch every cell of the row", () => {
    expect(touches({ kind: "rows.insert", changes: { rows: [{ id: 7, values: {} }] } }, 7, "c3")).toBe(true);
    expect(touches({ kind: "rows.delete", changes: { ids: [7] } }, 7, "c3")).toBe(true);
    expect(touches({ kind: "rows.import", changes: { rows: [], cells: [], ids: [9] } }, 7)).toBe(false);
  });

  test("a move changes no value", () => {
    expect(touches({ kind: "rows.move", changes: { ids: [7] } }, 7)).toBe(false);
  });

  test("retyped values and computed formula cells, by row id as a string", () => {
    expect(touches({ kind: "column.retype", changes: { key: "c1", values: { 7: 1 } } }, 7, "c1")).toBe(true);
    expect(touches({ kind: "column.retype", changes: { key: "c1", values: { 7: 1 } } }, 7, "c2")).toBe(false);
    expect(touches({ kind: "formulas.compute", changes: { computed: { c4: { 7: 2 } } } }, 7, "c4")).toBe(true);
    expect(touches({ kind: "formulas.compute", changes: { computed: { c4: { 8: 2 } } } }, 7)).toBe(false);
  });
});

test("what an entry says", () => {
  const base = { kind: "cells.update", event: "changed", col: { key: "c1", name: "Price" } };
  expect(what(base)).toBe("changed Price");
  expect(what({ ...base, undo_of: 3 })).toBe("undid an edit: changed Price");
  expect(what({ ...base, kind: "rows.insert", event: "created" })).toBe("added the row");
  expect(what({ ...base, kind: "rows.import", event: "deleted" })).toBe("deleted the row (import)");
  expect(what({ ...base, kind: "sheet.restore", event: "created" })).toBe("added the row (restored)");
});
