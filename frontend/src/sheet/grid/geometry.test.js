// Screen arithmetic: the capped scroll mapping, the drawn window, rectangles and hits.
import { describe, expect, test } from "vitest";

import {
  HEAD_H, MAX_SCROLL, ROW_H, cellAt, columnBoxes, columnXs, frozenThatFit, rangeRect, revealScroll, scrollHeight, scrollTopFor, virtualTop, visibleWindow,
} from "./geometry.js";

const xs = columnXs([{ w: 100 }, { w: 50 }, { w: 200 }], (c) => c.w);

test("column edges", () => {
  expect(xs).toEqual([0, 100, 150, 350]);
});

describe("scroll mapping", () => {
  test("a small sheet scrolls one to one", () => {
    expect(virtualTop(280, 1000, 500)).toBe(280);
    expect(scrollTopFor(280, 1000, 500)).toBe(280);
  });

  test("a million rows fit in the capped height, both ends reachable", () => {
    const total = 1_000_000;
    const viewH = 600;
    expect(scrollHeight(total)).toBe(MAX_SCROLL);
    const room = MAX_SCROLL - viewH;
    expect(virtualTop(room, total, viewH)).toBe(total * ROW_H + HEAD_H - viewH);
    expect(virtualTop(0, total, viewH)).toBe(0);
    const top = 500_000 * ROW_H;
    expect(virtualTop(scrollTopFor(top, total, viewH), total, viewH)).toBeCloseTo(top, 6);
  });

  test("nothing to scroll", () => {
    expect(virtualTop(50, 3, 500)).toBe(0);
    expect(scrollTopFor(50, 3, 500)).toBeNull();
  });
});

test("the window of a frame", () => {
  const layout = visibleWindow({ top: 10 * ROW_H + 5, left: 120, total: 1000, viewW: 300, viewH: HEAD_H + 5 * ROW_H, rowHeadW: 50, xs });
  expect(layout).toMatchObject({ first: 10, shiftY: HEAD_H - 5, rowCount: 6, c0: 1, c1: 3 });
  const end = visibleWindow({ top: 998 * ROW_H, left: 0, total: 1000, viewW: 300, viewH: 600, rowHeadW: 50, xs });
  expect(end.rowCount).toBe(2);
});

test("a range's rectangle, and null off screen", () => {
  const layout = { first: 10, rowCount: 6, shiftY: HEAD_H, left: 0, xs };
  expect(rangeRect(layout, 50, 11, 12, 0, 1)).toEqual({ x: 50, y: HEAD_H + ROW_H, w: 150, h: 2 * ROW_H });
  expect(rangeRect(layout, 50, 100, 101, 0, 0)).toBeNull();
  expect(rangeRect(layout, 50, 0, 2, 0, 0)).toBeNull();
});

test("the cell under a point", () => {
  const layout = { first: 10, rowCount: 6, shiftY: HEAD_H, left: 0, xs };
  expect(cellAt(layout, 50, 60, HEAD_H + 1)).toEqual({ r: 10, c: 0 });
  expect(cellAt(layout, 50, 160, HEAD_H + ROW_H + 1)).toEqual({ r: 11, c: 1 });
  expect(cellAt(layout, 50, 10, HEAD_H + 1)).toEqual({ r: 10, c: -1 });
  expect(cellAt(layout, 50, 60, 5)).toEqual({ r: -1, c: 0 });
  expect(cellAt(layout, 50, 1000, HEAD_H + 1)).toEqual({ r: 10, c: 2 }); // past the last column
});

test("reveal scrolls only the axis that needs it", () => {
  const base = { top: 10 * ROW_H, left: 0, viewW: 250, viewH: HEAD_H + 5 * ROW_H, rowHeadW: 50, xs };
  expect(revealScroll({ ...base, r: 12, c: 0 })).toEqual({ top: null, left: null });
  expect(revealScroll({ ...base, r: 3, c: 0 })).toEqual({ top: 3 * ROW_H, left: null });
  expect(revealScroll({ ...base, r: 20, c: 0 }).top).toBe(20 * ROW_H - 4 * ROW_H);
  expect(revealScroll({ ...base, r: 12, c: 2 })).toEqual({ top: null, left: 350 - 200 });
});

describe("frozen columns", () => {
  // columns 0 (100 px) and 1 (50 px) frozen; 2 (200 px) and 3 (100 px) scroll under them
  const wide = columnXs([{ w: 100 }, { w: 50 }, { w: 200 }, { w: 100 }], (c) => c.w);
  const at = (left) => visibleWindow({ top: 0, left, total: 100, viewW: 400, viewH: 300, rowHeadW: 50, xs: wide, frozen: 2 });

  test("the frame draws the frozen columns and the scrolled ones not under them", () => {
    expect(at(0)).toMatchObject({ frozen: 2, c0: 2, c1: 3 }); // column 3 starts at the right edge
    expect(at(210)).toMatchObject({ c0: 3, c1: 4 });
    expect(columnBoxes(at(120), 50)).toEqual([
      { c: 0, x: 50, w: 100, frozen: true },
      { c: 1, x: 150, w: 50, frozen: true },
      { c: 2, x: 80, w: 200, frozen: false },
      { c: 3, x: 280, w: 100, frozen: false },
    ]);
  });

  test("rectangles are clipped at the frozen edge, and hidden under it", () => {
    const layout = { ...at(120), first: 0, rowCount: 10, shiftY: HEAD_H };
    expect(rangeRect(layout, 50, 0, 0, 0, 0)).toMatchObject({ x: 50, w: 100 });
    expect(rangeRect(layout, 50, 0, 0, 2, 2)).toMatchObject({ x: 200, w: 80 });
    expect(rangeRect(layout, 50, 0, 0, 1, 2)).toMatchObject({ x: 150, w: 130 });
    expect(rangeRect({ ...layout, left: 300 }, 50, 0, 0, 2, 2)).toBeNull();
  });

  test("a point over the frozen columns hits them, past them the scrolled ones", () => {
    const layout = { ...at(120), first: 0, rowCount: 10, shiftY: HEAD_H };
    expect(cellAt(layout, 50, 160, HEAD_H + 1).c).toBe(1);
    expect(cellAt(layout, 50, 210, HEAD_H + 1).c).toBe(2);
    expect(cellAt(layout, 50, 290, HEAD_H + 1).c).toBe(3);
  });

  test("reveal scrolls a column out from under the frozen ones, never for a frozen one", () => {
    const base = { r: 0, top: 0, viewW: 400, viewH: 300, rowHeadW: 50, xs: wide, frozen: 2 };
    expect(revealScroll({ ...base, c: 2, left: 120 }).left).toBe(0);
    expect(revealScroll({ ...base, c: 0, left: 120 }).left).toBeNull();
    expect(revealScroll({ ...base, c: 3, left: 0 }).left).toBe(450 - 350);
  });

  test("only as many freeze as leave room to scroll the others", () => {
    expect(frozenThatFit(wide, 2, 400, 50)).toBe(2);
    expect(frozenThatFit(wide, 3, 400, 50)).toBe(0 + 2);
    expect(frozenThatFit(wide, 2, 250, 50)).toBe(1);
  });
});
