import { describe, expect, it } from "vitest";
import { fieldProblems } from "./api.js";

describe("fieldProblems", () => {
  it("names each field of a flat error", () => {
    expect(fieldProblems({ name: ["This field is required."], non_field_errors: ["a sheet rule needs a sheet"] }))
      .toBe("name: This field is required.; a sheet rule needs a sheet");
  });

  it("names the item and the field of nested list errors, skipping the valid items", () => {
    const fields = { webhooks: [{}, { url: ["only http:// and https:// URLs can be called"] }] };
    expect(fieldProblems(fields)).toBe("webhooks #2 url: only http:// and https:// URLs can be called");
  });

  it("counts items keyed by index from 1", () => {
    expect(fieldProblems({ webhooks: { 1: { url: ["only http:// and https:// URLs can be called"] } } }))
      .toBe("webhooks #2 url: only http:// and https:// URLs can be called");
  });

  it("takes a list's own errors and plain messages", () => {
    expect(fieldProblems({ webhooks: { non_field_errors: ["Expected a list of items."] } }))
      .toBe("webhooks: Expected a list of items.");
    expect(fieldProblems({ webhooks: ["at most 10 webhooks per alert rule"] }))
      .toBe("webhooks: at most 10 webhooks per alert rule");
    expect(fieldProblems(null)).toBe("");
  });
});
