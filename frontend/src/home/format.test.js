// The new-sheet form's "Name, Amount:number" columns, checked against the server's column types.
import { afterEach, beforeEach, expect, test } from "vitest";

import { setColumnTypes } from "../lib/columnTypes.js";
import TYPES from "../test/columnTypes.json";
import { parseColumns } from "./format.js";

beforeEach(() => setColumnTypes(TYPES));
afterEach(() => setColumnTypes(null));

test("names with optional types; text by default", () => {
  expect(parseColumns("Name, Amount:number, Due : Date, Kind:choice,")).toEqual([
    { name: "Name", type: "text" },
    { name: "Amount", type: "number" },
    { name: "Due", type: "date" },
    { name: "Kind", type: "choice" },
  ]);
});

test("a type the server does not have is refused, naming the ones it has", () => {
  expect(() => parseColumns("Price:money")).toThrow("“money” is not a column type; use one of text, number, integer, boolean, date, datetime, choice, formula.");
});
