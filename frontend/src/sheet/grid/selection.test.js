// The selection store: named actions, clamped to the sheet, no DOM.
import { describe, expect, test } from "vitest";

import { Selection } from "./selection.js";

const size = { rows: 100, cols: 5 };

test("starts at the first cell", () => {
  const s = new Selection();
  expect(s.range()).toEqual({ r0: 0, r1: 0, c0: 0, c1: 0 });
});

test("select moves both ends; extend keeps the anchor", () => {
  const s = new Selection();
  s.select(3, 2, size);
  s.select(1, 4, size, true);
  expect(s.range()).toEqual({ r0: 1, r1: 3, c0: 2, c1: 4 });
  expect(s.inRows(2) && s.inCols(3)).toBe(true);
  expect(s.inRows(4) || s.inCols(1)).toBe(false);
  expect(s.isActive(1, 4)).toBe(true);
});

test("select is clamped to the sheet, an empty sheet included", () => {
  const s = new Selection();
  s.select(500, -3, size);
  expect(s.active).toEqual({ r: 99, c: 0 });
  s.select(5, 5, { rows: 0, cols: 0 });
  expect(s.active).toEqual({ r: 0, c: 0 });
});

describe("heads and all", () => {
  test("a column head selects the whole column, with Shift from the anchor's column", () => {
    const s = new Selection();
    s.select(4, 1, size);
    s.selectColumn(3, size);
    expect(s.range()).toEqual({ r0: 0, r1: 99, c0: 3, c1: 3 });
    s.selectColumn(1, size, true);
    expect(s.range()).toEqual({ r0: 0, r1: 99, c0: 1, c1: 3 });
  });

  test("a row head selects the whole row, with Shift from the anchor's row", () => {
    const s = new Selection();
    s.selectRow(7, size);
    expect(s.range()).toEqual({ r0: 7, r1: 7, c0: 0, c1: 4 });
    s.selectRow(9, size, true);
    expect(s.range()).toEqual({ r0: 7, r1: 9, c0: 0, c1: 4 });
  });

  test("all, a dragged range and a pasted block", () => {
    const s = new Selection();
    s.selectAll(size);
    expect(s.range()).toEqual({ r0: 0, r1: 99, c0: 0, c1: 4 });
    s.select(2, 2, size);
    s.dragTo(150, 3, size);
    expect(s.range()).toEqual({ r0: 2, r1: 99, c0: 2, c1: 3 });
    s.selectBlock(10, 1, 3, 2);
    expect(s.range()).toEqual({ r0: 10, r1: 12, c0: 1, c1: 2 });
  });
});
