import { expect, test } from "vitest";
import { configFrom, stateFrom, summary, urlFor } from "./views.js";

const columns = [{ key: "c1" }, { key: "c2" }, { key: "c3" }];

test("the grid's sort, filters and columns become a config", () => {
  const config = configFrom({
    sort: "-c2",
    filters: [["c1", "contains", "an"], ["c3", "notempty", ""]],
    allColumns: columns,
    shown: [columns[2], columns[0]],
    frozen: ["c3", "gone"],
    widths: { c1: 20, c3: 300, gone: 100 },
  });
  expect(config).toEqual({
    sorts: [{ column: "c2", direction: "desc" }],
    filters: { op: "and", conditions: [{ column: "c1", operator: "contains", value: "an" }, { column: "c3", operator: "not_empty" }] },
    hidden: ["c2"],
    order: ["c3", "c1"],
    frozen: ["c3"],
    widths: { c1: 40, c3: 300 },
  });
});

test("ad hoc filters join an applied view's and-conditions, and replace the same column's", () => {
  /** @type {import("./views.js").ViewConfig} */
  const base = { filters: { op: "and", conditions: [{ column: "c1", operator: "eq", value: "a" }, { column: "c2", operator: "gt", value: 1 }] } };
  const config = configFrom({ base, filters: [["c2", "lt", "5"]], allColumns: columns, shown: columns });
  expect(config.filters.conditions).toEqual([{ column: "c1", operator: "eq", value: "a" }, { column: "c2", operator: "lt", value: "5" }]);
  /** @type {import("./views.js").ViewConfig} */
  const or = { filters: { op: "or", conditions: base.filters.conditions } };
  expect(() => configFrom({ base: or, filters: [["c3", "eq", "x"]], allColumns: columns, shown: columns })).toThrow(/any condition/);
});

test("applying a view resets the ad hoc query and sets columns and widths", () => {
  const state = stateFrom({ id: 7, config: { hidden: ["c2"], order: ["c3"], frozen: 1, widths: { c1: 90 }, totals: { c2: "sum" } } });
  expect(state).toEqual({ query: { id: 7, sort: null, filters: [] }, layout: { hidden: ["c2"], order: ["c3"], frozen: 1 }, widths: { c1: 90 }, totals: { c2: "sum" } });
  expect(stateFrom(null).layout.frozen).toEqual([]);
  expect(stateFrom(null).query).toEqual({ id: null, sort: null, filters: [] });
});

test("the url names the view", () => {
  expect(urlFor("http://x/sheets/1/?a=1", 5)).toBe("http://x/sheets/1/?a=1&view=5");
  expect(urlFor("http://x/sheets/1/?view=5", null)).toBe("http://x/sheets/1/");
});

test("a summary names sorts and filters", () => {
  const config = { sorts: [{ column: "c1", direction: "desc" }], filters: { op: "or", conditions: [{ column: "c2", operator: "eq", value: 3 }, { column: "c3", operator: "empty" }] } };
  expect(summary(config, (k) => k.toUpperCase())).toBe("C1 ↓ · C2 eq 3 or C3 empty");
});
