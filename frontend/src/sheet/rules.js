// A column's data validation rules (sheets/rules.py checks and enforces them) in the column menu:
// the form's fields from the rules, the rules from the form, which rules a type takes, and the
// rules in words. No DOM here.
import { hasTextValues, isNumeric, isTime } from "../lib/columnTypes.js";

/** @typedef {{required?: boolean, unique?: boolean, min?: any, max?: any, pattern?: string}} Rules */

/** Which rules a column of this type takes: {bounds: min and max, pattern}. */
export function rulesTaken(type) {
  return { bounds: isNumeric(type) || isTime(type), pattern: hasTextValues(type) };
}

/** What the form shows for these rules (text fields, "" for none). @param {Rules | undefined} rules */
export function formOf(rules = {}) {
  const text = (value) => (value === undefined || value === null ? "" : String(value));
  return { required: !!rules.required, unique: !!rules.unique, min: text(rules.min), max: text(rules.max), pattern: text(rules.pattern) };
}

/**
 * The rules to save from the form, for a column of `type`: what the type does not take and empty
 * fields are left out (the server converts min and max as the column's values and says what is wrong).
 * @param {{required: boolean, unique: boolean, min: string, max: string, pattern: string}} form
 * @param {string} type
 * @returns {Rules}
 */
export function rulesOf(form, type) {
  const taken = rulesTaken(type);
  /** @type {Rules} */
  const rules = {};
  if (form.required) rules.required = true;
  if (form.unique) rules.unique = true;
  if (taken.bounds && form.min.trim()) rules.min = form.min.trim();
  if (taken.bounds && form.max.trim()) rules.max = form.max.trim();
  if (taken.pattern && form.pattern) rules.pattern = form.pattern;
  return rules;
}

/**
 * The rules a column keeps when its type changes: required and unique always; min and max only
 * while the type stays (they are values of it); a pattern while the values stay text.
 * @param {Rules | undefined} rules
 */
export function rulesKept(rules, fromType, toType) {
  if (!rules) return undefined;
  /** @type {Rules} */
  const kept = {};
  if (rules.required) kept.required = true;
  if (rules.unique) kept.unique = true;
  if (fromType === toType) {
    if (rules.min !== undefined) kept.min = rules.min;
    if (rules.max !== undefined) kept.max = rules.max;
  }
  if (rules.pattern && hasTextValues(toType)) kept.pattern = rules.pattern;
  return Object.keys(kept).length ? kept : undefined;
}

/** The rules in words: "required · unique · ≥ 0 · ≤ 100 · matches [A-Z]+", or "" for none. @param {Rules | undefined} rules */
export function rulesSummary(rules = {}) {
  const parts = [];
  if (rules.required) parts.push("required");
  if (rules.unique) parts.push("unique");
  if (rules.min !== undefined && rules.min !== null) parts.push(`≥ ${rules.min}`);
  if (rules.max !== undefined && rules.max !== null) parts.push(`≤ ${rules.max}`);
  if (rules.pattern) parts.push(`matches ${rules.pattern}`);
  return parts.join(" · ");
}
