import { describe, expect, it } from "vitest";
import { countLabel, findUrl, replacedLabel, step } from "./find.js";

describe("findUrl", () => {
  it("sends the query, the options and the cursor", () => {
    const url = new URL(findUrl(7, { q: "a b&c", matchCase: true, wholeCell: false }, "12:c1", 50), "http://x");
    expect(url.pathname).toBe("/api/v1/sheets/7/find/");
    expect(Object.fromEntries(url.searchParams)).toEqual({ q: "a b&c", match_case: "true", whole_cell: "false", limit: "50", cursor: "12:c1" });
  });
  it("leaves the cursor out on the first page", () => {
    expect(findUrl(1, { q: "x", matchCase: false, wholeCell: true })).not.toContain("cursor");
  });
});

describe("countLabel", () => {
  it("says nothing before an answer, then the count", () => {
    expect(countLabel(-1, null)).toBe("");
    expect(countLabel(-1, 0)).toBe("No matches");
    expect(countLabel(-1, 1)).toBe("1 match");
    expect(countLabel(-1, 120)).toBe("120 matches");
    expect(countLabel(2, 120)).toBe("3 of 120");
    expect(countLabel(0, 100000)).toBe("1 of 100,000");
  });
});

describe("step", () => {
  it("moves among the loaded matches", () => {
    expect(step({ position: -1, loaded: 3, total: 3, more: false }, 1)).toEqual({ position: 0 });
    expect(step({ position: 0, loaded: 3, total: 3, more: false }, 1)).toEqual({ position: 1 });
    expect(step({ position: 2, loaded: 3, total: 3, more: false }, -1)).toEqual({ position: 1 });
  });
  it("asks for the next page past the loaded ones", () => {
    expect(step({ position: 1, loaded: 2, total: 5, more: true }, 1)).toEqual({ fetch: true });
  });
  it("wraps at the ends once everything is loaded", () => {
    expect(step({ position: 2, loaded: 3, total: 3, more: false }, 1)).toEqual({ position: 0 });
    expect(step({ position: 0, loaded: 3, total: 3, more: false }, -1)).toEqual({ position: 2 });
    expect(step({ position: -1, loaded: 3, total: 3, more: false }, -1)).toEqual({ position: 2 });
  });
  it("stays on the first when going back with pages still unloaded", () => {
    expect(step({ position: 0, loaded: 2, total: 5, more: true }, -1)).toEqual({ position: 0 });
  });
  it("goes nowhere without matches", () => {
    expect(step({ position: -1, loaded: 0, total: 0, more: false }, 1)).toEqual({ position: -1 });
    expect(step({ position: -1, loaded: 0, total: null, more: false }, -1)).toEqual({ position: -1 });
  });
});

describe("replacedLabel", () => {
  it("counts the replaced and the skipped cells", () => {
    expect(replacedLabel({ replaced: 120, skipped_count: 0 })).toBe("Replaced 120 cells");
    expect(replacedLabel({ replaced: 1, skipped_count: 2 })).toBe("Replaced 1 cell · skipped 2 cells their column refuses");
  });
});
