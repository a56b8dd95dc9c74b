// Small formatting and parsing helpers of the home page.
import { typeNames } from "../lib/columnTypes.js";

const RANK = { none: 0, view: 1, edit: 2, manage: 3, own: 4 };

export function can(access, needed) {
  return (RANK[access] ?? 0) >= RANK[needed];
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
/** @type {[number, Intl.RelativeTimeFormatUnit][]} */
const STEPS = [
  [60, "second"], [60, "minute"], [24, "hour"], [7, "day"], [4.35, "week"], [12, "month"], [Infinity, "year"],
];

export function ago(iso, now = Date.now()) {
  let amount = (new Date(iso).getTime() - now) / 1000;
  if (Math.abs(amount) < 45) return "just now";
  for (const [size, unit] of STEPS) {
    if (Math.abs(amount) < size) return relative.format(Math.round(amount), unit);
    amount /= size;
  }
  return "";
}

export function fullDate(iso) {
  return new Date(iso).toLocaleString();
}

export function rowsLabel(sheet) {
  if (sheet.rows == null) return "";
  const count = sheet.rows.toLocaleString();
  if (sheet.rows_capped) return `more than ${count} rows`;
  return sheet.rows === 1 ? "1 row" : `${count} rows`;
}

/** "Name, Amount:number, Due:date" -> [{name, type}]; throws an Error naming a bad type. */
export function parseColumns(text) {
  const columns = [];
  for (const part of text.split(",")) {
    const piece = part.trim();
    if (!piece) continue;
    const colon = piece.lastIndexOf(":");
    let name = piece;
    let type = "text";
    if (colon > 0) {
      const maybe = piece.slice(colon + 1).trim().toLowerCase();
      const types = typeNames();
      if (!types.includes(maybe)) {
        throw new Error(`“${maybe}” is not a column type; use one of ${types.join(", ")}.`);
      }
      name = piece.slice(0, colon).trim();
      type = maybe;
    }
    if (!name) throw new Error("Every column needs a name.");
    columns.push({ name, type });
  }
  return columns;
}

export function bySheetName(a, b) {
  return a.name.localeCompare(b.name) || a.id - b.id;
}

/** The home page's shape of a sheet from an API answer (create, import, sheet detail). */
export function sheetFromApi(sheet, workspaceName) {
  return {
    id: sheet.id,
    name: sheet.name,
    workspace: sheet.workspace,
    workspace_name: workspaceName,
    rows: sheet.row_count ?? 0,
    rows_capped: false,
    updated_at: sheet.updated_at,
    url: `/sheets/${sheet.id}/`,
    access: sheet.access,
  };
}

/** Svelte action: focus (and select) a field when it appears after a click. */
export function focusOnMount(node) {
  node.focus();
  if (node.select) node.select();
}
