// Response times of the dashboard's live feed, as the status line shows them: in polling mode the
// round trip of each poll; over WebSocket and Server-Sent Events the age of the data when it
// arrives (arrival minus the server's `as_of_ms` stamp, see docs/dashboards.md).

export const KEEP = 20; // samples in the rolling window
const SKEW_MS = 1000; // a stamp further than this in the future: the two clocks differ

/** A rolling window of the last KEEP durations (ms). */
export class Samples {
  constructor(kind) {
    this.kind = kind; // "age" | "trip"
    this.values = [];
    this.last = null;
    this.skewed = false;
  }

  add(ms) {
    this.last = ms;
    this.values.push(ms);
    if (this.values.length > KEEP) this.values.shift();
  }

  summary() {
    if (!this.values.length) return { kind: this.kind, count: 0, last: null, p50: null, max: null, skewed: this.skewed };
    const sorted = [...this.values].sort((a, b) => a - b);
    return { kind: this.kind, count: sorted.length, last: this.last, p50: sorted[Math.floor((sorted.length - 1) / 2)],
             max: sorted[sorted.length - 1], skewed: this.skewed };
  }
}

/** The age (ms) of data stamped `asOfMs` (epoch ms) that arrives at `nowMs`; null without a stamp,
 *  or when the stamp is well in the future (the browser's clock is behind the server's: no honest
 *  age can be given); a small negative difference counts as 0. */
export function dataAge(asOfMs, nowMs = Date.now()) {
  if (typeof asOfMs !== "number" || !Number.isFinite(asOfMs)) return null;
  const age = nowMs - asOfMs;
  if (age < -SKEW_MS) return null;
  return Math.max(0, age);
}

export function isSkewed(asOfMs, nowMs = Date.now()) {
  return typeof asOfMs === "number" && nowMs - asOfMs < -SKEW_MS;
}

/** 0.4 → "<1 ms", 85.2 → "85 ms", 1234 → "1.2 s", 5000 → "5 s", 95000 → "1.6 min". */
export function formatMs(ms) {
  if (ms == null || !Number.isFinite(ms)) return "–";
  if (ms < 0.5) return "<1 ms";
  if (ms < 999.5) return `${Math.round(ms)} ms`;
  const short = (value) => String(Number(value.toFixed(value < 10 ? 1 : 0)));
  if (ms < 59_500) return `${short(ms / 1000)} s`;
  return `${short(ms / 60_000)} min`;
}

/** "data 85 ms old (p50 70 ms, max 120 ms)" / "round trip 34 ms (p50 30 ms, max 51 ms)", or "" before the first sample. */
export function describeLatency(summary) {
  if (!summary) return "";
  if (!summary.count) return summary.skewed ? "data age unknown (this computer's clock differs from the server's)" : "";
  const rest = summary.count > 1 ? ` (p50 ${formatMs(summary.p50)}, max ${formatMs(summary.max)})` : "";
  return summary.kind === "trip" ? `round trip ${formatMs(summary.last)}${rest}`
                                 : `data ${formatMs(summary.last)} old${rest}`;
}
