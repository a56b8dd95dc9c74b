// Time travel's reads, apart from its panel: which cells an operation changed (marked in the past
// grid), the operations' page around a version, and the url of the rows as of a version.

export const PAGE_ROWS = 100;
export const RECENT = 50; // operations listed to jump to

/** "row:col" of every cell (and "row:" of every whole row) the operation wrote. */
export function changedCells(op) {
  const c = op?.changes || {};
  const found = new Set();
  for (const cell of c.cells || []) found.add(`${cell.row}:${cell.col}`);
  for (const row of c.rows || []) found.add(`${row.id}:`);
  for (const [col, values] of Object.entries(c.computed || {})) for (const row of Object.keys(values)) found.add(`${row}:${col}`);
  if (c.values && c.key) for (const row of Object.keys(c.values)) found.add(`${row}:${c.key}`);
  return found;
}

/** Whether the cell (or its row as a whole) was written by that operation. */
export const wasChanged = (changed, row, col) => changed.has(`${row}:${col}`) || changed.has(`${row}:`);

/** A version kept within the sheet's: from its creation (`first`) to now (`last`). */
export function clampVersion(value, first, last) {
  const n = Math.round(Number(value));
  if (!Number.isFinite(n)) return last;
  return Math.min(last, Math.max(first, n));
}

export const rowsAsOf = (sheetId, version, offset, limit = PAGE_ROWS) =>
  `/api/v1/sheets/${sheetId}/rows/?as_of=${version}&offset=${offset}&limit=${limit}`;

/** The `since` of the operations page that ends at `version` (RECENT of them, at most). */
export const recentSince = (version) => Math.max(0, version - RECENT);

const count = (n, word) => `${n}${n === 1000 ? "+" : ""} ${word}${n === 1 ? "" : "s"}`;

/** What a diff (GET diff/?from=) says changed since, in a line: "2 cells changed, 1 row added". */
export function sinceText(diff) {
  if (!diff) return "";
  const parts = [];
  if (diff.cells.length) parts.push(`${count(diff.cells.length, "cell")} changed`);
  if (diff.rows.added.length) parts.push(`${count(diff.rows.added.length, "row")} added`);
  if (diff.rows.removed.length) parts.push(`${count(diff.rows.removed.length, "row")} removed`);
  const c = diff.columns;
  if (c.added.length) parts.push(`${count(c.added.length, "column")} added`);
  if (c.removed.length) parts.push(`${count(c.removed.length, "column")} removed`);
  if (c.renamed.length) parts.push(`${count(c.renamed.length, "column")} renamed`);
  if (c.retyped.length) parts.push(`${count(c.retyped.length, "column")} retyped`);
  const text = parts.length ? parts.join(", ") : "nothing changed";
  return diff.truncated ? `${text} (and more)` : text;
}
