// The dashboard widget's CSV, made in the browser: formula-like text is neutralized, numbers stay numbers.
import { describe, expect, test } from "vitest";

import { resultCsv } from "../dashboard/query.js";
import { csvCell, toCsv } from "./csv.js";

describe("csvCell", () => {
  test.each([
    ["=1+1", "'=1+1"],
    ["+1", "'+1"],
    ["-5", "'-5"],
    ["-1+cmd|' /C calc'!A0", "'-1+cmd|' /C calc'!A0"],
    ["@SUM(A1:A2)", "'@SUM(A1:A2)"],
    ["\tTAB", "'\tTAB"],
    ["\rCR", "\"'\rCR\""],
    ["'=already", "''=already"],
    ["=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""],
    ["plain", "plain"],
    ["it's -fine", "it's -fine"],
    ["2026-01-31T12:00:00Z", "2026-01-31T12:00:00Z"],
  ])("text %j becomes %j", (value, field) => {
    expect(csvCell(value)).toBe(field);
  });

  test("real numbers stay numbers", () => {
    expect(csvCell(-5)).toBe("-5");
    expect(csvCell(12.5)).toBe("12.5");
    expect(csvCell(-1e-7)).toBe("-1e-7");
    expect(csvCell(0)).toBe("0");
  });

  test("nothing, and numbers JSON cannot hold, are empty", () => {
    expect(csvCell(null)).toBe("");
    expect(csvCell(undefined)).toBe("");
    expect(csvCell(Number.NaN)).toBe("");
    expect(csvCell(Number.POSITIVE_INFINITY)).toBe("");
  });

  test("quotes, commas and line breaks are quoted", () => {
    expect(csvCell('say "hi", then\nleave')).toBe('"say ""hi"", then\nleave"');
  });
});

test("toCsv joins rows with CRLF", () => {
  expect(toCsv([["a", "b"], [1, "=2"]])).toBe("a,b\r\n1,'=2\r\n");
});

describe("resultCsv", () => {
  test("totals: group names are text, values numbers", () => {
    const widget = { query: { source: "metrics", metric: "revenue", agg: "sum", group_by: "region", bucket: null } };
    const result = {
      totals: [
        { group: "=cmd|' /C calc'!A0", value: -5 },
        { group: "-2+3", value: 7.5 },
        { group: null, value: null, overflow: true },
      ],
    };
    expect(resultCsv(widget, result)).toBe("region,value\r\n'=cmd|' /C calc'!A0,-5\r\n'-2+3,7.5\r\n(all),\r\n");
  });

  test("series: time, group, value", () => {
    const widget = { query: { source: "metrics", metric: "orders", agg: "count", group_by: "status", bucket: "minute" } };
    const result = { series: [{ group: "@paid", points: [["2026-01-31T12:00:00Z", 3], ["2026-01-31T12:01:00Z", -1]] }] };
    expect(resultCsv(widget, result)).toBe(
      "time,status,value\r\n2026-01-31T12:00:00Z,'@paid,3\r\n2026-01-31T12:01:00Z,'@paid,-1\r\n",
    );
  });
});
