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
