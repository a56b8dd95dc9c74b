import { describe, expect, it } from "vitest";
import { advance, countLabel, findUrl, replacedLabel, replaceUrl, searchAgain, step } from "./find.js";
import { viewScope } from "./views.js";

describe("findUrl", () => {
  it("sends the query, the options and the cursor", () => {
    const url = new URL(findUrl(7, { q: "a b&c", matchCase: true, wholeCell: false }, "12:c1", 50), "http://x");
    expect(url.pathname).toBe("/api/v1/sheets/7/find/");
    expect(Object.fromEntries(url.searchParams)).toEqual({ q: "a b&c", match_case: "true", whole_cell: "false", limit: "50", cursor: "12:c1" });
  });
  it("leaves the cursor out on the first page", () => {
    expect(findUrl(1, { q: "x", matchCase: false, wholeCell: true })).not.toContain("cursor");
  });
  it("finds in the rows the view shows, as the rows API reads them", () => {
    const scope = viewScope({ id: 4, sort: "-c2", filters: [["c1", "contains", "a:b"]] });
    const url = new URL(findUrl(7, { q: "x", matchCase: false, wholeCell: false }, null, 10, scope), "http://x");
    expect(url.searchParams.get("view")).toBe("4");
    expect(url.searchParams.get("sort")).toBe("-c2");
    expect(url.searchParams.getAll("filter")).toEqual(["c1:contains:a:b"]);
    expect(url.searchParams.get("q")).toBe("x");
  });
});

describe("replaceUrl", () => {
  it("replaces in the view's rows only when a view is given", () => {
    expect(replaceUrl(3)).toBe("/api/v1/sheets/3/replace/");
    expect(replaceUrl(3, viewScope({ filters: [["c2", "gte", 10]] }))).toBe("/api/v1/sheets/3/replace/?filter=c2%3Agte%3A10");
    expect(viewScope({ id: null, sort: null, filters: [] })).toBe("");
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

/** A server's pages of `total` matches, `size` a page, and the cursors asked for. */
function pages(total, size) {
  const asked = [];
  const all = Array.from({ length: total }, (_, i) => ({ row: 100 + i, col: "c1", index: i * 10 }));
  const fetchPage = async (cursor) => {
    asked.push(cursor);
    const from = cursor ? Number(cursor) : 0;
    const to = from + size;
    return { matches: all.slice(from, to), total, next: to < total ? String(to) : null };
  };
  return { asked, fetchPage };
}

describe("advance and searchAgain", () => {
  it("fetches the next page with the cursor when Next goes past the loaded matches", async () => {
    const server = pages(5, 2);
    let results = await searchAgain(server.fetchPage);
    expect(results).toMatchObject({ total: 5, position: -1, next: "2" });
    const seen = [];
    for (let i = 0; i < 6; i++) {
      results = await advance(results, 1, server.fetchPage);
      seen.push(results.matches[results.position].index);
    }
    expect(seen).toEqual([0, 10, 20, 30, 40, 0]); // the sixth wraps to the first
    expect(server.asked).toEqual([null, "2", "4"]);
  });
  it("keeps the active match's place when searching again", async () => {
    const server = pages(5, 2);
    const results = await searchAgain(server.fetchPage, 3);
    expect(results.position).toBe(3);
    expect(results.matches).toHaveLength(4);
    expect((await searchAgain(pages(2, 2).fetchPage, 3)).position).toBe(1); // fewer matches now
  });
});
