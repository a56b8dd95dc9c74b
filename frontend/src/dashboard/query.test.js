// Which columns an aggregate takes (from the column type table) and the export URLs of a widget.
import { afterEach, beforeEach, describe, expect, test } from "vitest";

import { setColumnTypes, typeNames } from "../lib/columnTypes.js";
import TYPES from "../test/columnTypes.json";
import { aggregateTakes, chartSummary, exportUrl, widgetTitle, widgetUrl } from "./query.js";

beforeEach(() => setColumnTypes(TYPES));
afterEach(() => setColumnTypes(null));

describe("aggregateTakes", () => {
  test.each([
    ["sum", ["number", "integer"]],
    ["avg", ["number", "integer"]],
    ["min", ["number", "integer", "date", "datetime"]],
    ["max", ["number", "integer", "date", "datetime"]],
    ["count", ["text", "number", "integer", "boolean", "date", "datetime", "choice", "formula"]],
  ])("%s takes %j", (agg, types) => {
    expect(typeNames().filter((type) => aggregateTakes(agg, type))).toEqual(types);
  });

  test("a numeric type added on the server is summed with no change here", () => {
    setColumnTypes({ ...TYPES, money: { ...TYPES.number, label: "Money" } });
    expect(aggregateTakes("sum", "money")).toBe(true);
  });
});

describe("export URLs", () => {
  const filters = { from: "2026-01-31T10:00:00Z", to: "2026-01-31T11:00:00Z", tags: [] };

  test("a sheet widget exports the whole sheet", () => {
    const urls = { sheetExport: "/api/v1/sheets/{id}/export/", export: "/api/v1/metrics/export/" };
    expect(exportUrl(urls, { source: "sheet", sheet: 4 }, filters, "xlsx")).toBe("/api/v1/sheets/4/export/?format=xlsx");
  });

  test("a metric widget exports its metric's events in the window", () => {
    const url = new URL(exportUrl({ export: "/api/v1/metrics/export/" }, { source: "metrics", metric: "orders" }, filters, "csv"), "http://x");
    expect(url.pathname).toBe("/api/v1/metrics/export/");
    expect(Object.fromEntries(url.searchParams)).toEqual({ metric: "orders", from: "2026-01-31T10:00:00.000Z", to: "2026-01-31T11:00:00.000Z", format: "csv" });
  });

  test("a widget's data URL carries its query and filters as JSON", () => {
    const url = new URL(widgetUrl("/w/", { source: "sheet", sheet: 1 }, filters), "http://x");
    expect(JSON.parse(url.searchParams.get("query"))).toEqual({ source: "sheet", sheet: 1 });
    expect(JSON.parse(url.searchParams.get("filters"))).toEqual(filters);
  });
});

describe("chartSummary", () => {
  const points = (...values) => values.map((v, i) => [`2026-01-31T10:0${i}:00Z`, v]);

  test("a time chart: latest and maximum", () => {
    expect(chartSummary("Orders per minute", { series: [{ group: null, points: points(3, 30, 12) }] })).toBe("Orders per minute: latest 12, max 30");
  });

  test("series by group are named", () => {
    const result = { series: [{ group: "eu", points: points(1, 2) }, { group: "us", points: [] }] };
    expect(chartSummary("Revenue", result)).toBe("Revenue: eu: latest 2, max 2; us: no data");
  });

  test("totals by group, the rest counted", () => {
    const result = { totals: [{ group: "a", value: 1 }, { group: "b", value: 2 }, { group: "c", value: 3 }] };
    expect(chartSummary("Top", result, 2)).toBe("Top: a 1; b 2; and 1 more");
  });

  test("no data", () => {
    expect(chartSummary("Errors", null)).toBe("Errors: no data in this range");
    expect(chartSummary("Errors", { series: [], totals: [] })).toBe("Errors: no data in this range");
  });
});

describe("history widgets", () => {
  const widget = { title: "", query: { source: "history", sheet: null, group_by: "actor", bucket: "day", top: null } };

  test("are titled by what they count, by whom and per what", () => {
    expect(widgetTitle(widget, null)).toBe("Changes in every sheet by person per day");
    expect(widgetTitle(widget, { labels: { sheet: "Orders", group_by: "person" } })).toBe("Changes in Orders by person per day");
  });

  test("have no XLSX export, and poll the widget endpoint", () => {
    expect(exportUrl({ export: "/x", sheetExport: "/s/{id}" }, widget.query, { range: 3600 }, "xlsx")).toBeNull();
    expect(widgetUrl("/w", widget.query, { range: 3600 })).toContain("history");
  });
});
