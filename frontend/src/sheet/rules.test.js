// The column menu's validation rules, without the DOM, with the server's column type table.
import { afterAll, beforeAll, expect, test } from "vitest";

import TYPES from "../test/columnTypes.json";
import { setColumnTypes } from "../lib/columnTypes.js";
import { formOf, rulesKept, rulesOf, rulesSummary, rulesTaken } from "./rules.js";

beforeAll(() => setColumnTypes(TYPES));
afterAll(() => setColumnTypes(null));

test("bounds are for numbers and times, patterns for text values", () => {
  expect(rulesTaken("number")).toEqual({ bounds: true, pattern: false });
  expect(rulesTaken("date")).toEqual({ bounds: true, pattern: false });
  expect(rulesTaken("text")).toEqual({ bounds: false, pattern: true });
  expect(rulesTaken("choice")).toEqual({ bounds: false, pattern: true });
  expect(rulesTaken("boolean")).toEqual({ bounds: false, pattern: false });
});

test("the form shows the rules and gives back only what the type takes", () => {
  const form = formOf({ required: true, min: 0, max: 100 });
  expect(form).toEqual({ required: true, unique: false, min: "0", max: "100", pattern: "" });
  expect(rulesOf({ ...form, min: " -5 ", pattern: "a+" }, "number")).toEqual({ required: true, min: "-5", max: "100" });
  expect(rulesOf({ ...form, pattern: "[A-Z]+" }, "text")).toEqual({ required: true, pattern: "[A-Z]+" });
  expect(rulesOf(formOf(), "integer")).toEqual({});
});

test("a type change keeps the rules the new type takes", () => {
  const rules = { required: true, min: 1, pattern: "x" };
  expect(rulesKept(rules, "number", "number")).toEqual({ required: true, min: 1 });
  expect(rulesKept(rules, "number", "text")).toEqual({ required: true, pattern: "x" });
  expect(rulesKept({ max: 3 }, "number", "integer")).toBeUndefined();
  expect(rulesKept(undefined, "text", "number")).toBeUndefined();
});

test("the rules in words", () => {
  expect(rulesSummary({ required: true, unique: true, min: 0, max: "2026-12-31", pattern: "[A-Z]+" })).toBe(
    "required · unique · ≥ 0 · ≤ 2026-12-31 · matches [A-Z]+",
  );
  expect(rulesSummary({})).toBe("");
  expect(rulesSummary()).toBe("");
});
