// One line of the activity feed for an operation.

function quote(value) {
  const text = value === null || value === undefined || value === "" ? "empty" : String(value);
  return text.length > 40 ? `“${text.slice(0, 40)}…”` : `“${text}”`;
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** names: column key -> name (kept across deletes); rowLabel(id) -> "row 12" or "a row". */
export function describe(op, { names, rowLabel }) {
  const c = op.changes || {};
  const col = (key) => `“${names.get(key) ?? key}”`;
  let text;
  switch (op.kind) {
    case "cells.update":
      text = c.cells.length === 1
        ? `set ${col(c.cells[0].col)} in ${rowLabel(c.cells[0].row)} to ${quote(c.cells[0].value)}`
        : `edited ${plural(c.cells.length, "cell")}`;
      break;
    // seed_demo's bulk load logs no rows, only their count ({bulk: true, count}).
    case "rows.insert": text = `added ${plural(c.rows?.length ?? c.count, "row")}`; break;
    case "rows.delete": text = `deleted ${plural(c.ids.length, "row")}`; break;
    case "rows.import": text = `imported ${plural(c.rows.length, "new row")}, ${plural(new Set(c.cells.map((x) => x.row)).size, "updated row")}${c.ids.length ? `, removed ${plural(c.ids.length, "row")}` : ""}`; break;
    case "rows.move": text = `moved ${plural(c.ids.length, "row")}`; break;
    case "column.add": text = `added column ${quote(c.column.name)} (${c.column.type})`; break;
    case "column.rename": text = `renamed a column to ${quote(c.name)}`; break;
    case "column.retype": text = `made ${col(c.key)} ${c.type}${c.cleared ? `, clearing ${plural(Array.isArray(c.cleared) ? c.cleared.length : c.cleared, "value")}` : ""}`; break;
    case "column.move": text = `moved column ${col(c.key)}`; break;
    case "column.delete": text = `deleted column ${col(c.key)}`; break;
    case "sheet.create": text = "created the sheet"; break;
    case "sheet.rename": text = `renamed the sheet to ${quote(c.name)}`; break;
    case "sheet.restore": text = `restored ${c.scope === "sheet" ? "the sheet" : `a ${c.scope}`} to version ${c.version}`; break;
    default: text = op.kind;
  }
  if (c.undo_of) text = `undid: ${text}`;
  if (c.redo_of) text = `redid: ${text}`;
  return text;
}
