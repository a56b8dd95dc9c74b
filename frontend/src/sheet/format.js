// How values look in a cell, by column type.
const TYPE_LABEL = { text: "Aa", number: "1.5", integer: "123", boolean: "✓", date: "▦", datetime: "◷", choice: "☰" };

export function typeLabel(type) {
  return TYPE_LABEL[type] ?? type;
}

export function formatValue(value, type) {
  if (value === null || value === undefined || value === "") return "";
  if (type === "boolean") return value === true ? "✓" : value === false ? "✗" : String(value);
  if (type === "datetime" && typeof value === "string") return value.replace("T", " ").replace(/(:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$/, "$1");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** The text to put in the editor for a value. */
export function editText(value, type) {
  if (value === null || value === undefined) return "";
  if (type === "boolean") return value ? "true" : "false";
  return String(value);
}

export const alignRight = (type) => type === "number" || type === "integer";
