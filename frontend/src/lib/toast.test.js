import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { toastErrors } from "./toast.js";

describe("toastErrors", () => {
  let shown;
  beforeEach(() => {
    shown = [];
    vi.stubGlobal("document", {
      getElementById: () => ({ append: (div) => shown.push(div) }),
      createElement: () => ({ setAttribute() {}, remove() {} }),
    });
  });
  afterEach(() => vi.unstubAllGlobals());

  it("answers what the action answers, and shows nothing", async () => {
    expect(await toastErrors(async () => 42)).toBe(42);
    expect(shown).toEqual([]);
  });

  it("shows the error of a failed action as an alert, and does not throw it on", async () => {
    const answer = await toastErrors(async () => {
      throw new Error("no permission to publish this sheet");
    });
    expect(answer).toBeUndefined();
    expect(shown.map((div) => [div.className, div.textContent])).toEqual([["toast error", "no permission to publish this sheet"]]);
  });
});
