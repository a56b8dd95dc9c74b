// Saved views in the page: from a view's config to what the grid shows (rows query, shown
// columns, widths), and from what the grid shows back to a config to save. No DOM here.

/** @typedef {{column: string, operator: string, value?: any}} Condition */
/** @typedef {{filters?: {op: string, conditions: Condition[]}, sorts?: {column: string, direction: string}[],
 *   hidden?: string[], frozen?: number | string[], order?: string[], widths?: Record<string, number>,
 *   totals?: Record<string, string>}} ViewConfig */

/** @type {Record<string, string>} */
const OPERATOR = { notempty: "not_empty" }; // the column menu's names -> the view schema's
const WIDTH_MIN = 40;
const WIDTH_MAX = 2000;

/**
 * The config to save: the applied view's (`base`, or {}) with the ad hoc sort replacing its sorts
 * and the ad hoc filters added to its conditions, and the columns as shown now (frozen: the keys of the frozen ones).
 * Throws when ad hoc filters cannot join the base's "or" conditions.
 * @param {{base?: ViewConfig, sort?: string | null, filters?: any[][], allColumns: {key: string}[],
 *   shown: {key: string}[], frozen?: string[], widths?: Record<string, number>, totals?: Record<string, string>}} args
 * @returns {ViewConfig}
 */
export function configFrom({ base = {}, sort = null, filters = [], allColumns, shown, frozen = [], widths = {}, totals }) {
  /** @type {ViewConfig} */
  const config = { ...base };
  if (sort) config.sorts = [{ column: sort.replace(/^-/, ""), direction: sort.startsWith("-") ? "desc" : "asc" }];
  if (filters.length) {
    const conditions = base.filters?.conditions ?? [];
    if (conditions.length > 1 && base.filters.op === "or") {
      throw new Error("This view's filters match any condition: clear the column filters, or change them in a new view");
    }
    const added = filters.map(([column, op, value]) => {
      const operator = OPERATOR[op] ?? op;
      return operator === "empty" || operator === "not_empty" ? { column, operator } : { column, operator, value };
    });
    const replaced = new Set(added.map((c) => c.column));
    config.filters = { op: "and", conditions: [...conditions.filter((c) => !replaced.has(c.column)), ...added] };
  }
  const live = new Set(allColumns.map((c) => c.key));
  const showing = new Set(shown.map((c) => c.key));
  config.hidden = allColumns.filter((c) => !showing.has(c.key)).map((c) => c.key);
  config.order = shown.map((c) => c.key);
  config.frozen = frozen.filter((key) => live.has(key));
  config.widths = Object.fromEntries(
    Object.entries(widths)
      .filter(([key]) => live.has(key))
      .map(([key, px]) => [key, Math.min(WIDTH_MAX, Math.max(WIDTH_MIN, Math.round(px)))]),
  );
  if (totals) config.totals = totals;
  return config;
}

/** What applying a view sets: the rows query ({id}, no ad hoc sort or filter), shown and frozen columns, widths. */
/** @param {{id: number, config: ViewConfig} | null} view */
export function stateFrom(view) {
  /** @type {ViewConfig} */
  const config = view?.config ?? {};
  return {
    query: { id: view?.id ?? null, sort: null, filters: [] },
    layout: { hidden: config.hidden ?? [], order: config.order ?? [], frozen: config.frozen ?? [] },
    widths: config.widths ?? {},
    totals: config.totals ?? {},
  };
}

/** The page's url naming the view (or none). @param {string} href @param {number | null | undefined} viewId */
export function urlFor(href, viewId) {
  const url = new URL(href);
  if (viewId) url.searchParams.set("view", String(viewId));
  else url.searchParams.delete("view");
  return url.toString();
}

/** A short account of a view's sorts and filters, for its menu entry's title.
 * @param {ViewConfig} config @param {(key: string) => string} nameOf */
export function summary(config, nameOf) {
  const parts = [];
  for (const s of config.sorts ?? []) parts.push(`${nameOf(s.column)} ${s.direction === "desc" ? "↓" : "↑"}`);
  const conditions = config.filters?.conditions ?? [];
  const joined = conditions.map((c) => `${nameOf(c.column)} ${c.operator}${c.value === undefined || c.value === null ? "" : ` ${c.value}`}`);
  if (joined.length) parts.push(joined.join(config.filters.op === "or" ? " or " : " and "));
  return parts.join(" · ");
}
