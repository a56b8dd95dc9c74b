// The history panel's pure parts: which live operations touch the cell or row it shows, and how
// one change reads ("Ann changed “a” → “b”").

/** Whether the operation (an ops frame's op) changed this row, or this cell when `col` is given. */
export function touches(op, row, col = null) {
  const c = op.changes || {};
  if (op.kind === "rows.move") return false;
  const cell = (r, k) => Number(r) === row && (col === null || k === col);
  if ((c.cells || []).some((x) => cell(x.row, x.col))) return true;
  if ((c.rows || []).some((x) => x.id === row) || (c.ids || []).includes(row)) return true;
  if (typeof c.key === "string" && c.values && Object.hasOwn(c.values, String(row)) && cell(row, c.key)) return true;
  if (typeof c.key === "string" && c.reload && (col === null || col === c.key)) return true;
  return Object.entries(c.computed || {}).some(([key, values]) => Object.hasOwn(values, String(row)) && cell(row, key));
}

const EVENTS = { created: "added the row", deleted: "deleted the row" };

/** What a history entry says happened, without the values: "changed Price", "added the row". */
export function what(entry) {
  let text = entry.event === "changed" ? `changed ${entry.col?.name ?? "a cell"}` : EVENTS[entry.event];
  if (entry.kind === "rows.import") text += " (import)";
  if (entry.kind === "column.retype") text += " (column type changed)";
  if (entry.kind === "sheet.restore") text += " (restored)";
  if (entry.kind === "formulas.compute" || (entry.kind.startsWith("column.") && entry.kind !== "column.retype")) text += " (formula)";
  if (entry.undo_of) text = `undid an edit: ${text}`;
  if (entry.redo_of) text = `redid an edit: ${text}`;
  return text;
}
