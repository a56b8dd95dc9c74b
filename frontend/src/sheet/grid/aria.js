// What the grid tells screen readers: cell references ("B3"), the text of the live region for the
// active cell and for others' edits of it, and the list of keyboard shortcuts (the help dialog).
// Pure functions, testable without a browser.

/** The spreadsheet letter of the 0-based column c: A..Z, AA..AZ, BA... */
export function columnLetter(c) {
  let letters = "";
  for (let n = c + 1; n > 0; n = Math.floor((n - 1) / 26)) letters = String.fromCharCode(65 + ((n - 1) % 26)) + letters;
  return letters;
}

/** "B3": the reference of the 0-based row r and column c. */
export function cellRef(r, c) {
  return `${columnLetter(c)}${r + 1}`;
}

/**
 * What the live region says when the active cell moves: "B3, Price, 12", "B3, Price, empty",
 * with the size of a range when more than one cell is selected.
 * @param {{r: number, c: number, column: string, text: string | null, rows?: number, cols?: number, error?: string}} at
 *   text null: the row is still loading; error: why the server refused the value shown
 */
export function activeCellText({ r, c, column, text, rows = 1, cols = 1, error = "" }) {
  const value = text === null ? "loading" : text === "" ? "empty" : text;
  const range = rows * cols > 1 ? `, ${rows} by ${cols} cells selected` : "";
  const refused = error ? `, not saved: ${error}` : "";
  return `${cellRef(r, c)}, ${column}, ${value}${refused}${range}`;
}

/** What the live region says when someone else changed the active cell: "Bob changed B3 to 12". */
export function remoteEditText(who, r, c, text) {
  return `${who || "Someone"} changed ${cellRef(r, c)} to ${text === "" ? "empty" : text}`;
}

/** The grid's keyboard shortcuts, as the help dialog lists them (keys.js and editing.js do them). */
export const SHORTCUTS = [
  ["Arrow keys", "Move the active cell"],
  ["Shift + arrow keys", "Extend the selection"],
  ["Ctrl + arrow keys", "Go to the first or last row or column"],
  ["Home / End", "Go to the first / last column (with Ctrl: the first / last cell)"],
  ["Page Up / Page Down", "Move a screen up / down"],
  ["Tab / Shift + Tab", "Move right / left"],
  ["Enter or F2", "Edit the active cell"],
  ["Typing", "Replace the active cell's value"],
  ["Enter / Shift + Enter (editing)", "Save and move down / up"],
  ["Tab (editing)", "Save and move right"],
  ["Escape (editing)", "Cancel the edit"],
  ["Escape", "Collapse the selection to the active cell"],
  ["Delete or Backspace", "Clear the selected cells"],
  ["Space", "Tick or untick a checkbox cell"],
  ["Ctrl + C / Ctrl + X / Ctrl + V", "Copy / cut / paste"],
  ["Ctrl + D", "Fill down: copy the selection's first row into its other rows"],
  ["Ctrl while dragging the fill handle", "Count a single number up, or copy a series as it is"],
  ["Ctrl + A", "Select all"],
  ["Ctrl + Z", "Undo"],
  ["Ctrl + Y or Ctrl + Shift + Z", "Redo"],
  ["Ctrl + Alt + H", "History of the active cell (editors): who changed it, from what to what"],
  ["Ctrl + Alt + M", "Comments on the active cell: its threads, and a new one (editors)"],
  ["?", "Show this list (to type a ? in a cell, press Enter first)"],
];
