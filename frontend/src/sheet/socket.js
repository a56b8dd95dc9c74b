// The sheet's WebSocket, as docs/realtime.md asks a client to behave: operations applied strictly
// in version order (early ones buffered, a lasting gap asks for a replay), every write kept until
// its ack or error and resent with the same op_id after a reconnect, reconnect with backoff.

const GAP_TIMEOUT = 1000;
const PING_EVERY = 5000;
const PRESENCE_EVERY = 100;

export class SheetSocket {
  /**
   * handlers: apply(op, mine), error(frame, write), welcome(frame), presence(frame), status(state),
   * reload(version), access(access), deleted(). connect: false leaves opening to the caller (connect()).
   */
  constructor(url, { version, handlers, connect = true }) {
    this.url = url;
    this.version = version;
    this.handlers = handlers;
    this.early = new Map(); // version -> operation that arrived before its predecessors
    this.writes = new Map(); // op_id -> {frame, sentAt, retry}: not yet acknowledged, in send order
    this.ws = null;
    this.state = "connecting";
    this.attempt = 0;
    this.rtt = null; // ms, from ping/pong
    this.editRtt = null; // ms, from the last edit to its ack
    this.gapTimer = null;
    this.presenceTimer = null;
    this.presenceLast = 0;
    this.presenceNext = null;
    this.closedForGood = false;
    if (connect) this.connect();
    this.pinger = setInterval(() => this.ping(), PING_EVERY);
    window.addEventListener("online", () => this.state !== "open" && this.reconnectNow());
  }

  connect() {
    this.setState(this.attempt ? "reconnecting" : "connecting");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onmessage = (event) => this.receive(event.data);
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      if (event.code === 4403 || this.closedForGood) {
        this.closedForGood = true;
        this.setState("closed");
        return;
      }
      this.setState("offline");
      this.scheduleReconnect();
    };
  }

  scheduleReconnect() {
    const delay = Math.min(10_000, 500 * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
    this.attempt += 1;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (this.closedForGood) return;
    clearTimeout(this.reconnectTimer);
    if (this.ws && this.ws.readyState <= 1) this.ws.close();
    this.connect();
  }

  setState(state) {
    this.state = state;
    this.handlers.status?.(state);
  }

  send(frame) {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** A write (edit, insert_rows, undo, ...): kept until acknowledged, resent after reconnects. */
  write(frame) {
    frame.op_id ||= crypto.randomUUID();
    this.writes.set(frame.op_id, { frame, sentAt: performance.now() });
    if (this.state === "open") this.send(frame);
    return frame.op_id;
  }

  get unacknowledged() {
    return this.writes.size;
  }

  presence(selection, editing) {
    this.presenceNext = { type: "presence", selection, editing };
    const wait = this.presenceLast + PRESENCE_EVERY - performance.now();
    if (wait <= 0) return this.flushPresence();
    if (!this.presenceTimer) this.presenceTimer = setTimeout(() => this.flushPresence(), wait);
  }

  flushPresence() {
    clearTimeout(this.presenceTimer);
    this.presenceTimer = null;
    if (this.presenceNext && this.send(this.presenceNext)) this.presenceLast = performance.now();
  }

  ping() {
    this.send({ type: "ping", t: performance.now() });
  }

  hello() {
    this.send({ type: "hello", since: this.version });
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    switch (frame.type) {
      case "welcome":
        this.attempt = 0;
        this.setState("open");
        this.handlers.welcome?.(frame);
        this.hello();
        for (const { frame: write } of this.writes.values()) this.send(write);
        if (this.presenceNext) this.flushPresence();
        this.ping();
        break;
      case "ack": {
        const write = this.writes.get(frame.op_id);
        if (write) {
          this.editRtt = performance.now() - write.sentAt;
          this.writes.delete(frame.op_id);
        }
        this.offer({ ...frame, actor: null }, true);
        break;
      }
      case "ops":
        this.offer(frame, false);
        break;
      case "replay":
        for (const op of frame.ops) this.offer(op, false);
        this.noteKnown(frame.version);
        break;
      case "reload":
        this.early.clear();
        this.handlers.reload?.(frame.version);
        break;
      case "error":
        this.failed(frame);
        break;
      case "presence":
        this.handlers.presence?.(frame);
        break;
      case "pong":
        if (typeof frame.t === "number") this.rtt = performance.now() - frame.t;
        this.noteKnown(frame.version);
        this.handlers.status?.(this.state);
        break;
      case "access":
        this.handlers.access?.(frame.access);
        break;
      case "deleted":
        this.closedForGood = true;
        this.handlers.deleted?.();
        break;
      case "views":
        this.handlers.views?.(frame);
        break;
      case "comment":
        this.handlers.comment?.(frame);
        break;
    }
  }

  failed(frame) {
    const write = frame.op_id ? this.writes.get(frame.op_id) : null;
    if (frame.code === "rate_limited" && write) {
      setTimeout(() => this.send(write.frame), Math.ceil((frame.retry_after || 1) * 1000));
      return;
    }
    if (frame.code === "server_error" && write) {
      setTimeout(() => this.send(write.frame), 1000);
      return;
    }
    if (write) this.writes.delete(frame.op_id);
    this.handlers.error?.(frame, write?.frame ?? null);
  }

  /** Take an operation in version order: apply it, buffer it, or ignore it (already have it). */
  offer(op, mine) {
    if (op.version <= this.version) return;
    if (op.version > this.version + 1) {
      this.early.set(op.version, { op, mine });
      this.noteKnown(op.version);
      return;
    }
    this.handlers.apply(op, mine);
    this.version = op.version;
    let next;
    while ((next = this.early.get(this.version + 1))) {
      this.early.delete(this.version + 1);
      this.handlers.apply(next.op, next.mine);
      this.version = next.op.version;
    }
    if (!this.early.size) {
      clearTimeout(this.gapTimer);
      this.gapTimer = null;
    }
  }

  /** The server says `version` exists: if we stay behind it for a while, ask for a replay. */
  noteKnown(version) {
    if (version <= this.version || this.gapTimer) return;
    this.gapTimer = setTimeout(() => {
      this.gapTimer = null;
      if (this.version < version) this.hello();
    }, GAP_TIMEOUT);
  }

  /** After a reload: continue from this version (the snapshot reflects everything up to it). */
  resetTo(version) {
    this.version = version;
    for (const v of [...this.early.keys()]) if (v <= version) this.early.delete(v);
    this.hello();
  }

  close() {
    this.closedForGood = true;
    clearInterval(this.pinger);
    this.ws?.close();
  }
}
