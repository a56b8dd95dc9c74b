// Tab-separated text to and from the clipboard, as spreadsheet programs write it.
import { expect, test } from "vitest";

import { parseTsv, pasteSummary, toTsv } from "./clipboard.js";

test("rows and cells; a trailing line end and CRLF are what spreadsheets write", () => {
  expect(parseTsv("a\tb\r\n1\t2\r\n")).toEqual([["a", "b"], ["1", "2"]]);
  expect(parseTsv("one")).toEqual([["one"]]);
  expect(parseTsv("a\t\tc")).toEqual([["a", "", "c"]]);
});

test("quoted cells hold tabs, line breaks and doubled quotes", () => {
  expect(parseTsv('"a\tb"\t"line 1\nline 2"\t"say ""hi"""')).toEqual([["a\tb", "line 1\nline 2", 'say "hi"']]);
});

test("toTsv quotes what needs it and round-trips", () => {
  const rows = [["plain", "tab\there", 'quote "q"', null], ["multi\nline", "", 3, undefined]];
  const text = toTsv(rows);
  expect(text).toBe('plain\t"tab\there"\t"quote ""q"""\t\n"multi\nline"\t\t3\t');
  expect(parseTsv(text)).toEqual([["plain", "tab\there", 'quote "q"', ""], ["multi\nline", "", "3", ""]]);
});

test("the paste summary names the first cells not pasted, with their reference and reason", () => {
  const refs = { "4:c3": "C4", "5:c4": "D5", "6:c5": "E6" };
  const refOf = (row, col) => refs[`${row}:${col}`] ?? null;
  const skipped = [
    { row: 4, col: "c3", value: "abc", message: "'abc' is not a number" },
    { row: 5, col: "c4", value: "-5", message: "must be at least 0" },
    { row: 6, col: "c5", value: "", message: "a value is required" },
    { row: 9, col: "c5", value: "x", message: "'x' is not one of the choices" },
  ];
  expect(pasteSummary(skipped.slice(0, 1), 1, refOf)).toBe("1 cell not pasted: C4 'abc' is not a number");
  expect(pasteSummary(skipped, 1204, refOf)).toBe(
    "1,204 cells not pasted: C4 'abc' is not a number; D5 '-5' must be at least 0; E6 a value is required; and 1,201 more",
  );
  expect(pasteSummary(skipped.slice(3), 1)).toBe("1 cell not pasted: a cell 'x' is not one of the choices");
  expect(pasteSummary([{ row: 1, col: "c1", value: "y".repeat(50), message: "does not match the pattern a+" }], 1, () => "A1")).toBe(
    `1 cell not pasted: A1 '${"y".repeat(40)}…' does not match the pattern a+`,
  );
  expect(pasteSummary([], 0)).toBe("");
});
