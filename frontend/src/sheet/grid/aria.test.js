// What the grid says to screen readers.
import { describe, expect, test } from "vitest";

import { activeCellText, cellRef, columnLetter, remoteEditText } from "./aria.js";

describe("references", () => {
  test.each([
    [0, "A"],
    [1, "B"],
    [25, "Z"],
    [26, "AA"],
    [27, "AB"],
    [51, "AZ"],
    [52, "BA"],
    [701, "ZZ"],
    [702, "AAA"],
  ])("column %i is %s", (c, letters) => expect(columnLetter(c)).toBe(letters));

  test("a cell is its column's letter and its 1-based row", () => expect(cellRef(2, 1)).toBe("B3"));
});

describe("live region", () => {
  test("the active cell: reference, column name, value", () => {
    expect(activeCellText({ r: 2, c: 1, column: "Price", text: "12" })).toBe("B3, Price, 12");
  });

  test("an empty cell, a row still loading", () => {
    expect(activeCellText({ r: 0, c: 0, column: "Item", text: "" })).toBe("A1, Item, empty");
    expect(activeCellText({ r: 0, c: 0, column: "Item", text: null })).toBe("A1, Item, loading");
  });

  test("a range says its size", () => {
    expect(activeCellText({ r: 4, c: 0, column: "Item", text: "x", rows: 3, cols: 2 })).toBe("A5, Item, x, 3 by 2 cells selected");
  });

  test("a value the server refused says why", () => {
    expect(activeCellText({ r: 1, c: 1, column: "Amount", text: "-5", error: "Amount: must be at least 0" })).toBe(
      "B2, Amount, -5, not saved: Amount: must be at least 0",
    );
  });

  test("someone else's edit", () => {
    expect(remoteEditText("Bob", 2, 1, "12")).toBe("Bob changed B3 to 12");
    expect(remoteEditText("", 0, 0, "")).toBe("Someone changed A1 to empty");
  });
});
