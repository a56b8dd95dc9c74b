import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { dismissible } from "./dismiss.js";

/** A document that keeps its listeners, to call them with the event a browser would pass. */
function fakeDocument() {
  const listeners = {};
  return {
    listeners,
    addEventListener: (type, fn) => (listeners[type] = [...(listeners[type] || []), fn]),
    removeEventListener: (type, fn) => (listeners[type] = (listeners[type] || []).filter((f) => f !== fn)),
    fire: (type, event) => (listeners[type] || []).forEach((fn) => fn(event)),
  };
}

describe("dismissible", () => {
  let doc;
  beforeEach(() => {
    vi.useFakeTimers();
    doc = fakeDocument();
    vi.stubGlobal("document", doc);
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it("closes on a click outside and on Escape, not on a click inside, and stops when told", () => {
    const inside = {};
    const box = { contains: (node) => node === inside };
    const onclose = vi.fn();
    const stop = dismissible(box, onclose);
    doc.fire("pointerdown", { target: {} });
    expect(onclose).not.toHaveBeenCalled(); // the click that opened it: not listened to yet
    vi.runAllTimers();
    doc.fire("pointerdown", { target: inside });
    doc.fire("keydown", { key: "Enter" });
    expect(onclose).not.toHaveBeenCalled();
    doc.fire("pointerdown", { target: {} });
    doc.fire("keydown", { key: "Escape" });
    expect(onclose).toHaveBeenCalledTimes(2);
    stop();
    doc.fire("keydown", { key: "Escape" });
    doc.fire("pointerdown", { target: {} });
    expect(onclose).toHaveBeenCalledTimes(2);
  });
});
