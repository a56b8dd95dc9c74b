// Tab-separated text to and from the clipboard, as spreadsheet programs write it.
import { expect, test } from "vitest";

import { parseTsv, toTsv } from "./clipboard.js";

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
