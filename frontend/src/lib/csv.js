// CSV made in the browser (a dashboard widget's data), safe to open in a spreadsheet: text a
// spreadsheet would run as a formula (starting with = + - @, a tab or a carriage return; OWASP's
// CSV injection guidance) gets a leading apostrophe, as the server's exports do (core/exports.py);
// real numbers stay numbers (-5 is a number, "-5" is text and is neutralized).

const FORMULA = /^'*[=+\-@\t\r]/;

/** One value as a CSV field: empty for null, a number as it is, text neutralized and quoted when needed. */
export function csvCell(value) {
  if (value == null) return "";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "";
  let text = String(value);
  if (FORMULA.test(text)) text = "'" + text;
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Rows of values as CSV text (CRLF line ends, as spreadsheets write it). */
export function toCsv(rows) {
  return rows.map((row) => row.map(csvCell).join(",")).join("\r\n") + "\r\n";
}
