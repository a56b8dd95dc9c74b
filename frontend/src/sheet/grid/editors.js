// How a cell of each kind shows its value and is edited: one entry per editor name of the column
// type table (lib/columnTypes.js, from the server), so a new type with an existing editor needs no
// change here and the grid has no branch on a type's name.
import { editorFor } from "../../lib/columnTypes.js";

/** @typedef {{display: (value: any) => string, editText: (value: any) => string,
 *   toggle?: (value: any) => string, attach?: (input: HTMLInputElement, column: any, parent: HTMLElement) => (() => void) | null}} CellEditor */

function display(value) {
  if (value === null || value === undefined || value === "") return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function editText(value) {
  return value === null || value === undefined ? "" : String(value);
}

/** @type {CellEditor} */
const text = { display, editText };

/** @type {Record<string, CellEditor>} */
export const EDITORS = {
  text,
  number: text,
  date: text,
  readonly: text, // formula cells: shown, never edited (editing.js refuses)
  datetime: {
    // "2026-01-31T12:00:00.123+00:00" shows as "2026-01-31 12:00:00"
    display: (value) =>
      typeof value === "string" && value !== ""
        ? value.replace("T", " ").replace(/(:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$/, "$1")
        : display(value),
    editText,
  },
  checkbox: {
    display: (value) => (value === true ? "✓" : value === false ? "✗" : display(value)),
    editText: (value) => (value === null || value === undefined ? "" : value ? "true" : "false"),
    // Space flips the cell: what is not true becomes true.
    toggle: (value) => (value === true ? "false" : "true"),
  },
  choice: {
    display,
    editText,
    // The column's choices as suggestions under the input.
    attach(input, column, parent) {
      const choices = column.options?.choices;
      if (!choices) return null;
      const list = document.createElement("datalist");
      list.id = `gc-choices-${column.key}`;
      for (const choice of choices) list.append(new Option(choice));
      parent.append(list);
      input.setAttribute("list", list.id);
      return () => list.remove();
    },
  },
};

/** The editor of a column type (the text editor for a type or editor this page does not know). */
export function cellEditor(type) {
  return EDITORS[editorFor(type)] ?? text;
}

/** What a cell shows for a value. */
export const displayValue = (value, type) => cellEditor(type).display(value);

/** The text the editor starts with for a value (also what copy and fill down write). */
export const editValue = (value, type) => cellEditor(type).editText(value);
