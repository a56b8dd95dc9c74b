// The dashboard's live feed in one of three modes: WebSocket (ws/dashboards/<id>/), Server-Sent
// Events (/workspaces/<id>/dashboard/events/) or polling (the REST aggregate for metrics widgets,
// /workspaces/<id>/dashboard/widget/ for sheet widgets). In "auto" it starts
// with the WebSocket and falls back (3 failed connects → SSE, 3 more → polling), and keeps
// counting updates so the page can show mode, status, last update and update count, and the
// response times (timing.js): the data's age on arrival when pushed, each poll's round trip when polling.
import { api } from "../lib/api.js";
import { aggregateUrl, widgetUrl } from "./query.js";
import { Samples, dataAge, isSkewed } from "./timing.js";

const FAILS_BEFORE_FALLBACK = 3;
const POLL_EVERY = 5000;

export class LiveFeed {
  /** handlers: data({widget, result|error, at}), notification(n), status({mode, state, ...}) */
  constructor({ urls, handlers, choice = "auto" }) {
    this.urls = urls;
    this.handlers = handlers;
    this.choice = choice; // auto | ws | sse | poll
    this.mode = choice === "auto" ? "ws" : choice;
    this.state = "connecting";
    this.updates = 0;
    this.lastUpdate = null;
    this.failures = 0;
    this.widgets = [];
    this.filters = {};
    this.ws = null;
    this.source = null;
    this.timer = null;
    this.generation = 0;
    this.latency = new Samples(this.latencyKind());
    this.latencyMode = this.mode;
    this.onOnline = () => this.state !== "live" && this.start();
    window.addEventListener("online", this.onOnline);
  }

  status() {
    this.handlers.status?.({ mode: this.mode, choice: this.choice, state: this.state, updates: this.updates,
                             lastUpdate: this.lastUpdate, failures: this.failures, pollEvery: POLL_EVERY,
                             latency: this.latency.summary() });
  }

  latencyKind() {
    return this.mode === "poll" ? "trip" : "age";
  }

  setState(state) {
    this.state = state;
    this.status();
  }

  /** Watch these widgets under these filters (resubscribes the open connection). */
  watch(widgets, filters) {
    this.widgets = widgets.map((w) => ({ id: w.id, query: w.query }));
    this.filters = filters;
    if (this.mode === "ws" && this.ws?.readyState === WebSocket.OPEN && this.welcomed) this.subscribe();
    else if (this.mode === "sse" && this.source) this.start();
    else if (this.mode === "poll") this.poll();
  }

  setChoice(choice) {
    this.choice = choice;
    this.mode = choice === "auto" ? "ws" : choice;
    this.failures = 0;
    this.start();
  }

  stop() {
    this.generation += 1;
    clearTimeout(this.timer);
    this.timer = null;
    if (this.ws) {
      this.ws.onclose = this.ws.onmessage = this.ws.onerror = null;
      this.ws.close();
      this.ws = null;
    }
    this.source?.close();
    this.source = null;
  }

  close() {
    this.stop();
    window.removeEventListener("online", this.onOnline);
  }

  start() {
    this.stop();
    if (this.latencyMode !== this.mode) { // another mode: its own measurements
      this.latency = new Samples(this.latencyKind());
      this.latencyMode = this.mode;
    }
    if (this.mode === "ws") this.openSocket();
    else if (this.mode === "sse") this.openEvents();
    else this.poll();
  }

  failed() {
    this.failures += 1;
    if (this.choice === "auto" && this.failures >= FAILS_BEFORE_FALLBACK && this.mode !== "poll") {
      this.mode = this.mode === "ws" ? "sse" : "poll";
      this.failures = 0;
      this.start();
      return true;
    }
    return false;
  }

  retryLater() {
    const delay = Math.min(10_000, 500 * 2 ** this.failures) * (0.75 + Math.random() * 0.5);
    const generation = this.generation;
    this.timer = setTimeout(() => generation === this.generation && this.start(), delay);
  }

  received(frame) {
    if (frame.type === "data") {
      if (this.mode !== "poll") {
        // Pushed: how old the data is now that it is here (the server stamps when it read it).
        const now = Date.now();
        const age = dataAge(frame.as_of_ms, now);
        if (age !== null) this.latency.add(age);
        else if (isSkewed(frame.as_of_ms, now)) this.latency.skewed = true;
      }
      this.updates += 1;
      this.lastUpdate = new Date();
      this.handlers.data?.(frame);
      this.status();
    } else if (frame.type === "notification") {
      this.handlers.notification?.(frame.notification);
    }
  }

  // --- WebSocket
  openSocket() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.setState(this.failures ? "reconnecting" : "connecting");
    this.welcomed = false;
    const ws = new WebSocket(`${scheme}://${location.host}${this.urls.socket}`);
    this.ws = ws;
    ws.onmessage = (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "welcome") {
        this.welcomed = true;
        this.failures = 0;
        this.setState("live");
        this.subscribe();
      } else if (frame.type === "error") {
        this.handlers.error?.(frame.message, frame.code);
      } else {
        this.received(frame);
      }
    };
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      if (event.code === 4403) return this.setState("no access");
      const wasLive = this.welcomed;
      this.setState("offline");
      if (wasLive) this.failures = 0; // a drop after working: reconnect before falling back
      if (!this.failed()) this.retryLater();
    };
  }

  subscribe() {
    this.ws?.send(JSON.stringify({ type: "subscribe", widgets: this.widgets, filters: this.filters }));
  }

  // --- Server-Sent Events
  openEvents() {
    this.setState(this.failures ? "reconnecting" : "connecting");
    const params = new URLSearchParams({ widgets: JSON.stringify(this.widgets), filters: JSON.stringify(this.filters) });
    const source = new EventSource(`${this.urls.events}?${params}`);
    this.source = source;
    let opened = false;
    source.addEventListener("welcome", () => {
      opened = true;
      this.failures = 0;
      this.setState("live");
    });
    // Access is gone (removed, logged out...): the stream ends; like a WebSocket's 4403, stay closed.
    source.addEventListener("revoked", () => {
      source.close();
      if (source !== this.source) return;
      this.source = null;
      this.setState("no access");
    });
    for (const kind of ["data", "notification"]) {
      source.addEventListener(kind, (event) => {
        try {
          this.received(JSON.parse(event.data));
        } catch {
          /* a broken event is skipped */
        }
      });
    }
    source.onerror = () => {
      if (source !== this.source) return;
      this.setState("offline");
      if (!opened || source.readyState === EventSource.CLOSED) {
        source.close();
        this.source = null;
        if (!this.failed()) this.retryLater();
      }
      opened = false; // EventSource reconnects by itself; count it as failed until it welcomes again
    };
  }

  // --- polling the REST aggregate (metrics) or the widget endpoint (sheets)
  async poll() {
    clearTimeout(this.timer);
    const generation = this.generation;
    if (this.state !== "live") this.setState("polling");
    let ok = 0;
    const started = performance.now();
    await Promise.all(
      this.widgets.map(async (w) => {
        const url = w.query.source !== "metrics" ? widgetUrl(this.urls.widget, w.query, this.filters)
                                                 : aggregateUrl(this.urls.aggregate, w.query, this.filters);
        try {
          const result = await api("GET", url);
          if (generation !== this.generation) return;
          ok += 1;
          this.received({ type: "data", widget: w.id, result, at: new Date().toISOString() });
        } catch (error) {
          if (generation !== this.generation) return;
          if (error.status) ok += 1; // the server answered: the widget's own error
          this.received({ type: "data", widget: w.id, error: error.message, at: new Date().toISOString() });
        }
      }),
    );
    if (generation !== this.generation) return;
    if (ok) this.latency.add(performance.now() - started); // the poll's round trip: until its last answer
    this.setState(ok || !this.widgets.length ? "live" : "offline");
    this.timer = setTimeout(() => generation === this.generation && this.poll(), POLL_EVERY);
  }
}
