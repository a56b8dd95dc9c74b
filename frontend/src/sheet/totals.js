// Footer totals in the page: which functions a column offers, and a total's value shown the way
// the column shows its cells (editors.js), counts as whole numbers. No DOM here.
import { isNumeric } from "../lib/columnTypes.js";
import { displayValue } from "./grid/editors.js";

const NUMERIC = ["sum", "avg", "min", "max", "count", "filled", "unique"];
const ANY = ["min", "max", "count", "filled", "unique"];
const COUNTS = new Set(["count", "filled", "unique"]);

/** The total functions a column of this type offers (sum and average need numbers). @param {string} type */
export const totalFunctions = (type) => (isNumeric(type) ? NUMERIC : ANY);

/** A short label for each function, as the footer's menus show it. */
export const TOTAL_LABELS = { sum: "Sum", avg: "Average", min: "Min", max: "Max", count: "Count", filled: "Filled", unique: "Unique" };

/**
 * A total's value as its footer cell shows it ("" while not loaded).
 * @param {any} value @param {string} fn @param {{type: string}} column
 */
export function formatTotal(value, fn, column) {
  if (value === null) return "—"; // min, max, sum or average of no value
  if (value === undefined) return "";
  if (COUNTS.has(fn)) return Number(value).toLocaleString();
  if (typeof value === "number") return displayValue(Number(value.toFixed(4)), column.type);
  return displayValue(value, column.type);
}
