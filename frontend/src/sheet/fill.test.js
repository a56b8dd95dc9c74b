// The fill handle's series: numbers, dates, numbered text, lists, and Ctrl's swap of series and copy.
import { describe, expect, test } from "vitest";

import { fillSeries, fillTarget } from "./fill.js";

describe("numbers", () => {
  test("two numbers continue their step", () => {
    expect(fillSeries(["1", "2"], 5)).toEqual(["3", "4", "5", "6", "7"]);
    expect(fillSeries(["10", "7"], 3)).toEqual(["4", "1", "-2"]);
    expect(fillSeries(["0.1", "0.2"], 2)).toEqual(["0.3", "0.4"]);
  });

  test("uneven numbers follow their least-squares line", () => {
    expect(fillSeries(["1", "2", "4"], 2)).toEqual(["5.33333333333", "6.83333333333"]);
  });

  test("a single number repeats; with Ctrl it counts up", () => {
    expect(fillSeries(["5"], 3)).toEqual(["5", "5", "5"]);
    expect(fillSeries(["5"], 3, { toggle: true })).toEqual(["6", "7", "8"]);
  });

  test("with Ctrl a series is copied as it is", () => {
    expect(fillSeries(["1", "2"], 3, { toggle: true })).toEqual(["1", "2", "1"]);
  });
});

describe("dates", () => {
  test("a single date goes on day by day, across months and years", () => {
    expect(fillSeries(["2026-12-30"], 3)).toEqual(["2026-12-31", "2027-01-01", "2027-01-02"]);
    expect(fillSeries(["2026-12-30"], 2, { toggle: true })).toEqual(["2026-12-30", "2026-12-30"]);
  });

  test("a step in days", () => {
    expect(fillSeries(["2026-02-20", "2026-02-27"], 2)).toEqual(["2026-03-06", "2026-03-13"]);
  });

  test("a step in months keeps the day, clamped to short months", () => {
    expect(fillSeries(["2026-01-15", "2026-02-15"], 2)).toEqual(["2026-03-15", "2026-04-15"]);
    expect(fillSeries(["2025-11-30", "2025-12-30"], 3)).toEqual(["2026-01-30", "2026-02-28", "2026-03-30"]);
    expect(fillSeries(["2026-01-31", "2026-02-28"], 2)).toEqual(["2026-03-31", "2026-04-30"]);
    expect(fillSeries(["2024-02-29", "2025-02-28"], 1)).toEqual(["2026-02-28"]); // yearly, month ends
  });

  test("date-times keep their time", () => {
    expect(fillSeries(["2026-03-01 09:30", "2026-03-02 09:30"], 1)).toEqual(["2026-03-03 09:30"]);
  });

  test("dates without a constant step repeat", () => {
    expect(fillSeries(["2026-01-01", "2026-01-02", "2026-01-05"], 2)).toEqual(["2026-01-01", "2026-01-02"]);
  });
});

describe("text", () => {
  test("text ending in a number continues it, zero padding kept", () => {
    expect(fillSeries(["Item 1", "Item 2"], 2)).toEqual(["Item 3", "Item 4"]);
    expect(fillSeries(["Item 1"], 2)).toEqual(["Item 2", "Item 3"]);
    expect(fillSeries(["A08"], 3)).toEqual(["A09", "A10", "A11"]);
    expect(fillSeries(["Item 1"], 2, { toggle: true })).toEqual(["Item 1", "Item 1"]);
  });

  test("other text, mixed lists and listed values repeat cyclically", () => {
    expect(fillSeries(["red", "green", "blue"], 4)).toEqual(["red", "green", "blue", "red"]);
    expect(fillSeries(["Item 1", "Box 2"], 2)).toEqual(["Item 1", "Box 2"]);
    expect(fillSeries(["1", ""], 3)).toEqual(["1", "", "1"]);
    expect(fillSeries(["1", "2"], 2, { repeatOnly: true })).toEqual(["1", "2"]);
  });

  test("nothing to fill", () => {
    expect(fillSeries(["1"], 0)).toEqual([]);
    expect(fillSeries([], 2)).toEqual(["", ""]);
  });
});

test("a drag fills the rows below or the columns right, whichever it went further along", () => {
  const range = { r0: 2, r1: 3, c0: 1, c1: 1 };
  expect(fillTarget(range, 3, 1)).toBeNull();
  expect(fillTarget(range, 0, 0)).toBeNull();
  expect(fillTarget(range, 8, 2)).toEqual({ direction: "down", r0: 4, r1: 8, c0: 1, c1: 1 });
  expect(fillTarget(range, 4, 4)).toEqual({ direction: "right", r0: 2, r1: 3, c0: 2, c1: 4 });
});
