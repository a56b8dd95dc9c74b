// The column type table: read once from the page, null or missing means an empty table (and an error logged).
import { afterEach, describe, expect, test, vi } from "vitest";

import TYPES from "../test/columnTypes.json";
import { alignOf, columnTypes, editorFor, icon, isNumeric, isTime, label, setColumnTypes, takesOption, typeNames } from "./columnTypes.js";

function pageWith(text) {
  const getElementById = vi.fn((id) => (id === "gc-column-types" && text !== undefined ? { textContent: text } : null));
  vi.stubGlobal("document", { getElementById });
  return getElementById;
}

afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  setColumnTypes(null);
});

describe("with the server's table", () => {
  test("type names keep the registry's order", () => {
    setColumnTypes(TYPES);
    expect(typeNames()).toEqual(["text", "number", "integer", "boolean", "date", "datetime", "choice", "formula"]);
  });

  test("helpers answer from the table", () => {
    setColumnTypes(TYPES);
    expect(typeNames().filter(isNumeric)).toEqual(["number", "integer"]);
    expect(typeNames().filter(isTime)).toEqual(["date", "datetime"]);
    expect(label("boolean")).toBe("Yes/no");
    expect(icon("integer")).toBe("123");
    expect(alignOf("number")).toBe("right");
    expect(alignOf("text")).toBe("left");
    expect(editorFor("boolean")).toBe("checkbox");
    expect(takesOption("choice", "choices")).toBe(true);
    expect(takesOption("text", "choices")).toBe(false);
  });

  test("a type the table does not know: its name, not numeric, the text editor", () => {
    setColumnTypes(TYPES);
    expect(label("money")).toBe("money");
    expect(icon("money")).toBe("money");
    expect(isNumeric("money")).toBe(false);
    expect(editorFor("money")).toBe("text");
    expect(isNumeric("toString")).toBe(false); // not an inherited property either
  });
});

describe("read from the page", () => {
  test("lazily, once", () => {
    const getElementById = pageWith(JSON.stringify(TYPES));
    expect(getElementById).not.toHaveBeenCalled();
    expect(typeNames()).toHaveLength(8);
    expect(isNumeric("integer")).toBe(true);
    expect(getElementById).toHaveBeenCalledTimes(1);
  });

  test.each([
    ["no element", undefined],
    ["null (the server gave no table)", "null"],
    ["not JSON", "{"],
    ["a list", "[]"],
  ])("%s: an empty table and an error in the console", (_, text) => {
    pageWith(text);
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    expect(columnTypes()).toEqual({});
    expect(typeNames()).toEqual([]);
    expect(label("number")).toBe("number");
    expect(error).toHaveBeenCalledTimes(1);
  });

  test("without a document (not a browser) it is empty too", () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    expect(columnTypes()).toEqual({});
  });
});
