import { afterEach, describe, expect, it, vi } from "vitest";
import { Paged } from "./paged.svelte.js";

function answering(...bodies) {
  const calls = [];
  vi.stubGlobal("fetch", async (url) => {
    calls.push(url);
    const [status, body] = bodies.shift();
    return { status, statusText: "", text: async () => JSON.stringify(body) };
  });
  return calls;
}

afterEach(() => vi.unstubAllGlobals());

describe("Paged", () => {
  it("loads the first page, then the next ones after it, and a reload starts over", async () => {
    const calls = answering([200, { results: [{ id: 9 }, { id: 8 }], next: 8 }], [200, { results: [{ id: 7 }], next: null }],
                            [200, { results: [{ id: 10 }], next: 10 }]);
    const list = new Paged(() => "/api/v1/x/", 2);
    await list.load();
    expect([list.items.map((i) => i.id), list.next, list.loading]).toEqual([[9, 8], 8, false]);
    await list.load(list.next);
    expect([list.items.map((i) => i.id), list.next]).toEqual([[9, 8, 7], null]);
    await list.load();
    expect(list.items.map((i) => i.id)).toEqual([10]);
    expect(calls).toEqual(["/api/v1/x/?limit=2", "/api/v1/x/?limit=2&before=8", "/api/v1/x/?limit=2"]);
  });

  it("keeps what it had and says why a page failed", async () => {
    answering([200, { results: [{ id: 3 }], next: 3 }], [403, { error: { code: "permission_denied", message: "no" } }]);
    const list = new Paged(() => "/api/v1/x/");
    await list.load();
    await list.load(3);
    expect([list.items.map((i) => i.id), list.error, list.loading]).toEqual([[3], "no", false]);
  });
});
