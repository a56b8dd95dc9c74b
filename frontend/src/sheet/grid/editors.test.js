// Cell display and edit text come from the type's editor in the table, not from the type's name.
import { afterEach, beforeEach, describe, expect, test } from "vitest";

import { setColumnTypes } from "../../lib/columnTypes.js";
import TYPES from "../../test/columnTypes.json";
import { EDITORS, cellEditor, displayValue, editValue } from "./editors.js";

beforeEach(() => setColumnTypes(TYPES));
afterEach(() => setColumnTypes(null));

describe("display", () => {
  test.each([
    [null, "text", ""],
    ["", "text", ""],
    ["hello", "text", "hello"],
    [12.5, "number", "12.5"],
    [true, "boolean", "✓"],
    [false, "boolean", "✗"],
    [null, "boolean", ""],
    ["2026-01-31T12:34:56.789+00:00", "datetime", "2026-01-31 12:34:56"],
    ["2026-01-31T12:34:56Z", "datetime", "2026-01-31 12:34:56"],
    ["2026-01-31", "date", "2026-01-31"],
    [{ a: 1 }, "text", '{"a":1}'],
  ])("%j as %s shows %j", (value, type, text) => {
    expect(displayValue(value, type)).toBe(text);
  });
});

describe("edit text", () => {
  test.each([
    [null, "text", ""],
    [0, "integer", "0"],
    [true, "boolean", "true"],
    [false, "boolean", "false"],
    ["2026-01-31T12:34:56Z", "datetime", "2026-01-31T12:34:56Z"],
  ])("%j as %s edits as %j", (value, type, text) => {
    expect(editValue(value, type)).toBe(text);
  });
});

test("only the checkbox toggles: what is not true becomes true", () => {
  expect(cellEditor("boolean").toggle(true)).toBe("false");
  expect(cellEditor("boolean").toggle(false)).toBe("true");
  expect(cellEditor("boolean").toggle(null)).toBe("true");
  expect(cellEditor("text").toggle).toBeUndefined();
});

test("a new type with an existing editor needs no code; an unknown editor falls back to text", () => {
  setColumnTypes({ ...TYPES, flag: { ...TYPES.boolean }, rich: { ...TYPES.text, editor: "markdown" } });
  expect(displayValue(true, "flag")).toBe("✓");
  expect(cellEditor("rich")).toBe(EDITORS.text);
  expect(cellEditor("unknown")).toBe(EDITORS.text);
});

test("every editor the table names exists", () => {
  for (const entry of Object.values(TYPES)) expect(EDITORS).toHaveProperty(entry.editor);
});
