// The sheet socket with a fake WebSocket: operations in version order, a lasting gap asks for a
// replay (hello since), writes are resent with the same op_id after a reconnect.
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";

import { SheetSocket } from "./socket.js";

class FakeWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  static made = [];

  constructor(url) {
    this.url = url;
    this.readyState = FakeWebSocket.CONNECTING;
    this.sent = [];
    this.onmessage = null;
    this.onclose = null;
    FakeWebSocket.made.push(this);
  }

  send(text) {
    this.sent.push(JSON.parse(text));
  }

  close(code = 1000) {
    if (this.readyState === FakeWebSocket.CLOSED) return;
    this.readyState = FakeWebSocket.CLOSED;
    this.onclose?.({ code });
  }

  // what the server does
  welcome() {
    this.readyState = FakeWebSocket.OPEN;
    this.receive({ type: "welcome", connection: "c1" });
  }

  receive(frame) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  frames(type) {
    return this.sent.filter((f) => f.type === type);
  }
}

const latest = () => FakeWebSocket.made[FakeWebSocket.made.length - 1];
const op = (version, extra = {}) => ({ type: "ops", version, actor: 7, kind: "cells.update", changes: { cells: [] }, ...extra });

let applied;
let handlers;
let socket;

function open(version = 10) {
  socket = new SheetSocket("ws://test/ws/sheets/1/", { version, handlers });
  latest().welcome();
  return latest();
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.made = [];
  vi.stubGlobal("WebSocket", FakeWebSocket);
  vi.stubGlobal("window", new EventTarget());
  applied = [];
  handlers = { apply: vi.fn((o, mine) => applied.push([o.version, mine])), error: vi.fn(), status: vi.fn(), reload: vi.fn(), deleted: vi.fn() };
});

afterEach(() => {
  socket?.close();
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe("connecting", () => {
  test("welcome opens the socket and asks for what happened since its version", () => {
    const ws = open(10);
    expect(socket.state).toBe("open");
    expect(handlers.status).toHaveBeenLastCalledWith("open");
    expect(ws.frames("hello")).toEqual([{ type: "hello", since: 10 }]);
  });

  test("a write before the welcome waits, and goes once the socket opens", () => {
    socket = new SheetSocket("ws://x/", { version: 1, handlers });
    const id = socket.write({ type: "edit", cells: [] });
    expect(latest().sent).toEqual([]);
    latest().welcome();
    expect(latest().frames("edit")).toEqual([{ type: "edit", op_id: id, cells: [] }]);
  });

  test("a refused connection (4403) does not come back", () => {
    open();
    latest().close(4403);
    expect(socket.state).toBe("closed");
    vi.advanceTimersByTime(60_000);
    expect(FakeWebSocket.made).toHaveLength(1);
  });
});

describe("version order", () => {
  test("operations apply in order; early ones wait for the gap to fill", () => {
    const ws = open(10);
    ws.receive(op(11));
    ws.receive(op(13));
    ws.receive(op(14));
    expect(applied).toEqual([[11, false]]);
    ws.receive(op(12));
    expect(applied).toEqual([[11, false], [12, false], [13, false], [14, false]]);
    expect(socket.version).toBe(14);
  });

  test("an operation already applied is ignored", () => {
    const ws = open(10);
    ws.receive(op(11));
    ws.receive(op(11));
    ws.receive(op(9));
    expect(applied).toEqual([[11, false]]);
  });

  test("a gap that lasts asks for a replay (hello since), once", () => {
    const ws = open(10);
    ws.receive(op(12));
    expect(ws.frames("hello")).toHaveLength(1); // the one after welcome
    vi.advanceTimersByTime(999);
    expect(ws.frames("hello")).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(ws.frames("hello")).toEqual([{ type: "hello", since: 10 }, { type: "hello", since: 10 }]);
    ws.receive({ type: "replay", version: 12, ops: [op(11), op(12)] });
    expect(applied.map(([v]) => v)).toEqual([11, 12]);
  });

  test("a gap filled in time asks for nothing", () => {
    const ws = open(10);
    ws.receive(op(12));
    ws.receive(op(11));
    vi.advanceTimersByTime(5000);
    expect(ws.frames("hello")).toHaveLength(1);
  });

  test("a pong telling of a newer version, not followed by it, asks for a replay", () => {
    const ws = open(10);
    ws.receive({ type: "pong", t: 0, version: 15 });
    vi.advanceTimersByTime(1000);
    expect(ws.frames("hello").at(-1)).toEqual({ type: "hello", since: 10 });
  });

  test("reload drops early operations; resetTo continues from the snapshot", () => {
    const ws = open(10);
    ws.receive(op(13));
    ws.receive({ type: "reload", version: 20 });
    expect(handlers.reload).toHaveBeenCalledWith(20);
    socket.resetTo(20);
    expect(ws.frames("hello").at(-1)).toEqual({ type: "hello", since: 20 });
    ws.receive(op(21));
    expect(applied).toEqual([[21, false]]);
  });
});

describe("writes", () => {
  test("an ack applies the write as mine and forgets it", () => {
    const ws = open(10);
    const id = socket.write({ type: "edit", cells: [{ row: 1, col: "a", value: "x" }] });
    expect(socket.unacknowledged).toBe(1);
    ws.receive({ type: "ack", op_id: id, version: 11, kind: "cells.update", changes: { cells: [] } });
    expect(socket.unacknowledged).toBe(0);
    expect(applied).toEqual([[11, true]]);
    expect(handlers.apply.mock.calls[0][0].actor).toBeNull();
  });

  test("unacknowledged writes are resent with the same op_id after a reconnect, after the hello", () => {
    const ws = open(10);
    const a = socket.write({ type: "edit", cells: [{ row: 1, col: "a", value: "1" }] });
    const b = socket.write({ type: "insert_rows", count: 1 });
    ws.receive({ type: "ack", op_id: a, version: 11, kind: "cells.update", changes: { cells: [] } });
    ws.close(1006);
    expect(socket.state).toBe("offline");
    vi.advanceTimersByTime(10_000);
    const again = latest();
    expect(again).not.toBe(ws);
    expect(socket.state).toBe("reconnecting");
    again.welcome();
    expect(again.sent.filter((f) => f.type !== "ping").map((f) => [f.type, f.op_id ?? f.since])).toEqual([["hello", 11], ["insert_rows", b]]);
  });

  test("a refused write is given back to the page and not resent", () => {
    const ws = open(10);
    const id = socket.write({ type: "edit", cells: [] });
    ws.receive({ type: "error", op_id: id, code: "invalid", message: "Not a number" });
    expect(handlers.error).toHaveBeenCalledWith(expect.objectContaining({ message: "Not a number" }), expect.objectContaining({ op_id: id }));
    expect(socket.unacknowledged).toBe(0);
  });

  test("a rate-limited write is sent again after retry_after", () => {
    const ws = open(10);
    const id = socket.write({ type: "edit", cells: [] });
    ws.receive({ type: "error", op_id: id, code: "rate_limited", retry_after: 2 });
    expect(ws.frames("edit")).toHaveLength(1);
    vi.advanceTimersByTime(2000);
    expect(ws.frames("edit")).toHaveLength(2);
    expect(handlers.error).not.toHaveBeenCalled();
    expect(socket.unacknowledged).toBe(1);
  });
});

test("presence is throttled to one frame per 100 ms, the last one winning", () => {
  const ws = open(10);
  vi.advanceTimersByTime(200);
  socket.presence({ row: 1, col: "a" }, false);
  socket.presence({ row: 2, col: "a" }, false);
  socket.presence({ row: 3, col: "a" }, true);
  expect(ws.frames("presence")).toHaveLength(1);
  vi.advanceTimersByTime(100);
  expect(ws.frames("presence")).toEqual([
    { type: "presence", selection: { row: 1, col: "a" }, editing: false },
    { type: "presence", selection: { row: 3, col: "a" }, editing: true },
  ]);
});

test("a views frame (a shared view changed) goes to its handler, and the socket stays open", () => {
  handlers.views = vi.fn();
  const ws = open(10);
  ws.receive({ type: "views", event: "changed", view: 3 });
  expect(handlers.views).toHaveBeenCalledWith({ type: "views", event: "changed", view: 3 });
  expect(socket.state).toBe("open");
});
