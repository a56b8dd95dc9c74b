// A widget's query, the dashboard's time window and tag filters, and the REST URLs built from
// them (the polling mode and exports ask the same aggregate the server pushes). A widget's query
// is over metrics or over a sheet ({source: "sheet", sheet, agg, column, group_by, top,
// time_column, bucket}, columns by key) or over the sheets' history ({source: "history", sheet
// or null, group_by: "actor" | "column" | null, bucket, top}: a count of the cell changes people
// made); its answer has the same shape either way, a sheet's with the names of its columns in `labels`.

import { isNumeric, isTime } from "../lib/columnTypes.js";
import { toCsv } from "../lib/csv.js";

export const RANGES = [
  [300, "Last 5 minutes"],
  [900, "Last 15 minutes"],
  [3600, "Last hour"],
  [6 * 3600, "Last 6 hours"],
  [86400, "Last 24 hours"],
  [7 * 86400, "Last 7 days"],
];

export const TYPE_LABELS = { tile: "Number", line: "Line chart", bar: "Bar chart", pie: "Pie chart", table: "Live table" };

export function newWidget(type = "line") {
  return {
    id: crypto.randomUUID().slice(0, 12),
    type,
    title: "",
    query: { source: "metrics", metric: "orders", agg: "sum", bucket: type === "line" ? "minute" : null, group_by: null, tags: [], top: null },
  };
}

/** Whether an aggregate takes a column of this type (count: any column, or none to count rows). */
export function aggregateTakes(agg, type) {
  if (agg === "sum" || agg === "avg") return isNumeric(type);
  if (agg === "min" || agg === "max") return isNumeric(type) || isTime(type);
  return true;
}

/** What the widget aggregates, in words: the metric, or the sheet's column (by the answer's labels). */
export function subject(widget, result) {
  const q = widget.query;
  if (q.source === "history") return `changes in ${result?.labels?.sheet ?? (q.sheet ? "the sheet" : "every sheet")}`;
  if (q.source !== "sheet") return q.metric;
  const labels = result?.labels;
  if (!labels) return q.column || "rows";
  return `${labels.column ?? "rows"} in ${labels.sheet}`;
}

/** A history widget's groups, in words (its answer's labels say the same). */
export const HISTORY_GROUPS = { actor: "person", column: "column" };

export function widgetTitle(widget, result) {
  if (widget.title) return widget.title;
  const q = widget.query;
  const own = q.source === "history" ? HISTORY_GROUPS[q.group_by] : q.group_by;
  const group = q.source !== "metrics" ? result?.labels?.group_by ?? own : own;
  const what = subject(widget, result);
  let text = q.source === "history" ? what[0].toUpperCase() + what.slice(1)
    : q.source === "sheet" ? `${q.agg} of ${what}` : `${q.agg}(${q.metric})`;
  if (group) text += ` by ${group}`;
  if (q.bucket) text += ` per ${q.bucket}`;
  return text;
}

/** "region:eu, status:paid" <-> ["region:eu", "status:paid"] */
export function parseTags(text) {
  return String(text || "")
    .split(/[,\n]/)
    .map((t) => t.trim())
    .filter(Boolean);
}

export function badTag(tags) {
  return tags.find((t) => !/^[^:\s][^:]*:/.test(t)) ?? null;
}

/** [from, to] Date of the filters now: a sliding range ends now. */
export function windowOf(filters, now = new Date()) {
  if (filters.from) return [new Date(filters.from), filters.to ? new Date(filters.to) : now];
  return [new Date(now.getTime() - (filters.range || 3600) * 1000), now];
}

export function aggregateUrl(base, query, filters) {
  const [from, to] = windowOf(filters);
  const params = new URLSearchParams({ metric: query.metric, agg: query.agg, from: from.toISOString(), to: to.toISOString() });
  for (const name of ["bucket", "group_by", "top"]) if (query[name] != null && query[name] !== "") params.set(name, query[name]);
  for (const tag of [...(query.tags || []), ...(filters.tags || [])]) params.append("tag", tag);
  return `${base}?${params}`;
}

/** One widget's data now, as the server would push it (the polling mode's way for sheet widgets). */
export function widgetUrl(base, query, filters) {
  return `${base}?${new URLSearchParams({ query: JSON.stringify(query), filters: JSON.stringify(filters) })}`;
}

/** What a widget's XLSX export downloads: the metric's events in the window, or the whole sheet
 * (null for a history widget: its CSV is all there is). */
export function exportUrl(urls, query, filters, format) {
  if (query.source === "history") return null;
  if (query.source === "sheet") return `${urls.sheetExport.replace("{id}", query.sheet)}?format=${format}`;
  const base = urls.export;
  const [from, to] = windowOf(filters);
  const params = new URLSearchParams({ metric: query.metric, from: from.toISOString(), to: to.toISOString(), format });
  return `${base}?${params}`;
}

/** The widget's data as CSV: time series (time, group, value) or totals (group, value). */
export function resultCsv(widget, result) {
  const group = result?.labels?.group_by || widget.query.group_by || "group";
  const rows = [];
  if (result?.series?.length && widget.query.bucket) {
    rows.push(["time", group, "value"]);
    for (const s of result.series) for (const [t, v] of s.points) rows.push([t, s.group ?? "", v]);
  } else {
    rows.push([group, "value"]);
    for (const t of result?.totals || []) rows.push([t.group ?? "(all)", t.value]);
  }
  return toCsv(rows);
}

export function download(name, text, type = "text/csv") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });
const plain = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const small = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 3 });

export function formatNumber(value) {
  if (value == null || Number.isNaN(value)) return "–";
  if (typeof value === "string") return value.includes("T") ? new Date(value).toLocaleString() : value; // a min/max date
  const abs = Math.abs(value);
  if (abs >= 1e6) return compact.format(value);
  if (abs > 0 && abs < 1) return small.format(value);
  return plain.format(value);
}

/** An axis label: compact from ten thousand up ("400K"), so it fits the axis' 56 px. */
export function formatTick(value) {
  return value != null && Math.abs(value) >= 1e4 ? compact.format(value) : formatNumber(value);
}

export const PALETTE = ["#2f6fed", "#12a37f", "#f58231", "#d6336c", "#7048e8", "#0ca5b0", "#e8a20c", "#6b7a90", "#9a6324", "#3cb44b"];

/**
 * A chart's text alternative (its aria-label): the title, then per series of a time chart its
 * latest value and its maximum, or the totals by group ("Orders per minute: latest 12, max 30").
 * At most `limit` series or groups are named; the rest are counted.
 */
export function chartSummary(title, result, limit = 6) {
  const parts = [];
  let count = 0;
  if (result?.series?.length) {
    count = result.series.length;
    for (const s of result.series.slice(0, limit)) {
      const values = s.points.map((p) => p[1]).filter((v) => typeof v === "number");
      const name = count > 1 ? `${s.group ?? "value"}: ` : "";
      parts.push(values.length ? `${name}latest ${formatNumber(values[values.length - 1])}, max ${formatNumber(Math.max(...values))}` : `${name}no data`);
    }
  } else if (result?.totals?.length) {
    count = result.totals.length;
    for (const t of result.totals.slice(0, limit)) parts.push(`${t.group ?? "all"} ${formatNumber(t.value)}`);
  }
  if (!parts.length) return `${title}: no data in this range`;
  const more = count > limit ? `; and ${count - limit} more` : "";
  return `${title}: ${parts.join("; ")}${more}`;
}
