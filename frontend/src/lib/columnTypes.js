// The column types, as the server's registry describes them: every page that mounts Svelte
// renders them in <script id="gc-column-types" type="application/json">, keyed by type name in
// registry order ({label, icon, numeric, time, align, editor, options}). No other front-end file
// lists the types.

/** @typedef {{label: string, icon: string, numeric: boolean, time: boolean, align: string, editor: string, options: string[], text?: boolean}} ColumnType */

/** @type {Record<string, ColumnType> | null} */
let table = null;

/** Replace the table (tests; a page that got it some other way). */
export function setColumnTypes(/** @type {Record<string, ColumnType> | null} */ value) {
  table = value && typeof value === "object" ? value : null;
}

/** The whole table, read from the page the first time it is needed. */
export function columnTypes() {
  if (table === null) table = readPage();
  return table;
}

function readPage() {
  const element = globalThis.document?.getElementById("gc-column-types");
  let value = null;
  try {
    value = element ? JSON.parse(element.textContent || "null") : null;
  } catch {
    value = null;
  }
  if (value && typeof value === "object" && !Array.isArray(value)) return value;
  console.error("Gridcast: the page has no column types (#gc-column-types); every column shows as text.");
  return {};
}

/** The type names, in the registry's order. */
export function typeNames() {
  return Object.keys(columnTypes());
}

/** @param {string} type */
function entry(type) {
  return Object.hasOwn(columnTypes(), type) ? columnTypes()[type] : undefined;
}

export const isNumeric = (/** @type {string} */ type) => !!entry(type)?.numeric;
export const isTime = (/** @type {string} */ type) => !!entry(type)?.time;
export const label = (/** @type {string} */ type) => entry(type)?.label ?? type;
export const icon = (/** @type {string} */ type) => entry(type)?.icon ?? type;
export const alignOf = (/** @type {string} */ type) => entry(type)?.align ?? "left";
/** The editor's name ("text", "number", "checkbox", "choice", ...); "text" for a type not known. */
export const editorFor = (/** @type {string} */ type) => entry(type)?.editor ?? "text";
/** Whether the cells of this type are computed by the server (formula columns): never edited. */
export const isComputed = (/** @type {string} */ type) => entry(type)?.editor === "readonly";
/** A column's alignment: a formula column's by the type its results have (options.inferred). */
export const alignOfColumn = (/** @type {{type: string, options?: any}} */ column) =>
  isComputed(column.type) ? (column.options?.inferred === "number" ? "right" : "left") : alignOf(column.type);
/** Whether a column of this type keeps this option (e.g. "choices"). */
export const takesOption = (/** @type {string} */ type, /** @type {string} */ option) => !!entry(type)?.options?.includes(option);
/** Whether the values of this type are text (a pattern rule applies to them). */
export const hasTextValues = (/** @type {string} */ type) => !!entry(type)?.text;
