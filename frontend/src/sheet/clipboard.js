// Tab-separated text as spreadsheet programs put on the clipboard (quoted cells may hold tabs,
// newlines and doubled quotes).

export function parseTsv(text) {
  const rows = [];
  let row = [];
  let cell = "";
  let i = 0;
  let quoted = false;
  text = text.replace(/\r\n?/g, "\n");
  if (text.endsWith("\n")) text = text.slice(0, -1);
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 2;
        continue;
      }
      if (ch === '"') {
        quoted = false;
        i += 1;
        continue;
      }
      cell += ch;
      i += 1;
      continue;
    }
    if (ch === '"' && cell === "") {
      quoted = true;
    } else if (ch === "\t") {
      row.push(cell);
      cell = "";
    } else if (ch === "\n") {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else {
      cell += ch;
    }
    i += 1;
  }
  row.push(cell);
  rows.push(row);
  return rows;
}

export function toTsv(rows) {
  const quote = (v) => {
    const s = v === null || v === undefined ? "" : String(v);
    return /[\t\n"]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return rows.map((r) => r.map(quote).join("\t")).join("\n");
}

/**
 * What a paste's summary says of the cells the server did not take: "3 cells not pasted: C4 'abc'
 * is not a number; D5 '-5' must be at least 0; E6 'x' is not one of the choices", the first few
 * named (`refOf` gives a cell's reference, e.g. "C4", or null when it is not known).
 * @param {{row: number, col: string, value: string, message: string}[]} skipped
 * @param {number} count how many in all (the server names at most a few hundred)
 * @param {(row: number, col: string) => string | null} refOf
 * @param {number} named how many to name
 */
export function pasteSummary(skipped, count = skipped.length, refOf = () => null, named = 3) {
  if (!count) return "";
  const quoted = (value) => `'${value.length > 40 ? `${value.slice(0, 40)}…` : value}'`;
  const one = ({ row, col, value, message }) => {
    const ref = refOf(row, col) ?? "a cell";
    if (message.startsWith("'") || value === "") return `${ref} ${message}`; // the reason quotes the value
    return `${ref} ${quoted(value)} ${message}`;
  };
  const parts = skipped.slice(0, named).map(one);
  if (count > parts.length) parts.push(`and ${(count - parts.length).toLocaleString("en")} more`);
  return `${count.toLocaleString("en")} ${count === 1 ? "cell" : "cells"} not pasted: ${parts.join("; ")}`;
}
