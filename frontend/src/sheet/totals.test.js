// Footer totals: the functions a column offers and its values shown like the column's cells.
import { beforeAll, expect, test } from "vitest";

import { setColumnTypes } from "../lib/columnTypes.js";
import { formatTotal, totalFunctions } from "./totals.js";

beforeAll(() =>
  setColumnTypes({
    text: { label: "Text", icon: "Aa", numeric: false, time: false, align: "left", editor: "text", options: [] },
    number: { label: "Number", icon: "1.5", numeric: true, time: false, align: "right", editor: "number", options: [] },
    datetime: { label: "Date-time", icon: "◷", numeric: false, time: true, align: "left", editor: "datetime", options: [] },
  }),
);

test("sum and average only for numbers", () => {
  expect(totalFunctions("number")).toContain("sum");
  expect(totalFunctions("text")).toEqual(["min", "max", "count", "filled", "unique"]);
});

test("values are shown like the column's cells", () => {
  expect(formatTotal(10 / 3, "avg", { type: "number" })).toBe("3.3333");
  expect(formatTotal(12000, "count", { type: "text" })).toBe((12000).toLocaleString());
  expect(formatTotal("2026-01-31T12:00:00+00:00", "max", { type: "datetime" })).toBe("2026-01-31 12:00:00");
  expect(formatTotal(null, "sum", { type: "number" })).toBe("—");
  expect(formatTotal(undefined, "sum", { type: "number" })).toBe("");
});
