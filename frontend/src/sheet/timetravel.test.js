import { describe, expect, test } from "vitest";
import { changedCells, clampVersion, recentSince, rowsAsOf, sinceText, wasChanged } from "./timetravel.js";

describe("changedCells", () => {
  test("cells, rows, computed and retyped values", () => {
    const op = {
      changes: {
        cells: [{ row: 1, col: "c1", value: "a" }],
        rows: [{ id: 7, position: 1, values: {} }],
        computed: { c3: { 2: 5 } },
        key: "c2",
        values: { 4: "x" },
      },
    };
    const changed = changedCells(op);
    expect(wasChanged(changed, 1, "c1")).toBe(true);
    expect(wasChanged(changed, 7, "c9")).toBe(true); // a whole row
    expect(wasChanged(changed, 2, "c3")).toBe(true);
    expect(wasChanged(changed, 4, "c2")).toBe(true);
    expect(wasChanged(changed, 1, "c2")).toBe(false);
  });
  test("nothing for an operation without changes", () => {
    expect(changedCells(null).size).toBe(0);
    expect(changedCells({ kind: "rows.move", changes: { ids: [1] } }).size).toBe(0);
  });
});

test("clampVersion keeps a version within the sheet's", () => {
  expect(clampVersion("5", 1, 9)).toBe(5);
  expect(clampVersion(0, 1, 9)).toBe(1);
  expect(clampVersion(12, 1, 9)).toBe(9);
  expect(clampVersion("x", 1, 9)).toBe(9);
});

test("urls and pages", () => {
  expect(rowsAsOf(3, 7, 100)).toBe("/api/v1/sheets/3/rows/?as_of=7&offset=100&limit=100");
  expect(recentSince(10)).toBe(0);
  expect(recentSince(80)).toBe(30);
});

test("sinceText says what a diff found", () => {
  const none = { cells: [], rows: { added: [], removed: [] }, columns: { added: [], removed: [], renamed: [], retyped: [] }, truncated: false };
  expect(sinceText(none)).toBe("nothing changed");
  const some = { ...none, cells: [{}, {}], rows: { added: [{}], removed: [] }, columns: { ...none.columns, renamed: [{}] }, truncated: true };
  expect(sinceText(some)).toBe("2 cells changed, 1 row added, 1 column renamed (and more)");
  expect(sinceText(null)).toBe("");
});
