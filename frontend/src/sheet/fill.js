// What the fill handle writes, as pure functions (no DOM): the values that continue a list of
// cells' texts the way spreadsheets do, and which cells a drag of the handle covers.
//
// Numbers continue their linear trend (1, 2 -> 3, 4, 5; 2, 4, 7 -> the least-squares line), and a
// single number repeats; dates (YYYY-MM-DD, with the same time after it if any) continue by their
// step in months when they share a day of the month, else in days, and a single date goes on day
// by day; text ending in a number ("Item 1", "Item 2") continues its number; anything else repeats
// the list cyclically. Ctrl held during the drag swaps series and copy, as in Excel: a single
// number counts up by one, a series is copied as it is.

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const DATE = /^(\d{4})-(\d{2})-(\d{2})(.*)$/;
const NUMBERED = /^(.*\D)(\d+)$/s;
const DAY_MS = 86_400_000;

/** @typedef {{toggle?: boolean, repeatOnly?: boolean}} FillOptions
 * toggle: Ctrl held (swap series and copy); repeatOnly: the cells only take listed values (choices, checkboxes) */

/**
 * The `count` values after `values` (the source cells' texts, in the fill's direction).
 * @param {string[]} values
 * @param {number} count
 * @param {FillOptions} [options]
 * @returns {string[]}
 */
export function fillSeries(values, count, { toggle = false, repeatOnly = false } = {}) {
  if (count <= 0) return [];
  if (!values.length) return Array(count).fill("");
  const texts = values.map((v) => String(v ?? "").trim());
  const series = repeatOnly ? null : seriesOf(texts, toggle);
  return series ? Array.from({ length: count }, (_, k) => series(texts.length + k)) : repeat(values, count);
}

/** The values repeated cyclically. @param {string[]} values @param {number} count */
function repeat(values, count) {
  return Array.from({ length: count }, (_, k) => values[k % values.length]);
}

/** A function from position (0 = the first source value) to text, or null: copy the list. */
function seriesOf(texts, toggle) {
  const single = texts.length === 1;
  if (texts.every((t) => NUMBER.test(t))) {
    // A single number repeats unless Ctrl is held; a series continues unless Ctrl is held.
    if (single ? !toggle : toggle) return null;
    const line = single ? { at: Number(texts[0]), step: 1 } : trend(texts.map(Number));
    return (i) => formatNumber(line.at + line.step * (i - (single ? 0 : (texts.length - 1) / 2)));
  }
  if (toggle) return null; // dates and numbered text go on by default; Ctrl copies them
  const dates = texts.map((t) => DATE.exec(t));
  if (dates.every(Boolean) && dates.every((m) => m[4] === dates[0][4])) return dateSeries(dates);
  const numbered = texts.map((t) => NUMBERED.exec(t));
  if (numbered.every(Boolean) && numbered.every((m) => m[1] === numbered[0][1])) return numberedSeries(numbered);
  return null;
}

/** The least-squares line through (i, ys[i]): its value at the middle index and its slope. */
function trend(ys) {
  const n = ys.length;
  const mid = (n - 1) / 2;
  const mean = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  ys.forEach((y, i) => {
    num += (i - mid) * (y - mean);
    den += (i - mid) ** 2;
  });
  return { at: mean, step: num / den };
}

/** A number as a cell's text, without the float noise of the arithmetic (0.1 + 0.2 -> "0.3"). */
function formatNumber(x) {
  return String(Number(x.toPrecision(12)));
}

/** @param {RegExpExecArray[]} numbered "Item 1", "Item 2": the prefix is the same, the numbers a line */
function numberedSeries(numbered) {
  const prefix = numbered[0][1];
  const digits = numbered[0][2];
  const width = digits.startsWith("0") ? digits.length : 0; // "A01" -> "A02"
  const ys = numbered.map((m) => Number(m[2]));
  const single = ys.length === 1;
  const line = single ? { at: ys[0], step: 1 } : trend(ys);
  const mid = single ? 0 : (ys.length - 1) / 2;
  return (i) => prefix + String(Math.abs(Math.round(line.at + line.step * (i - mid)))).padStart(width, "0");
}

/** @param {RegExpExecArray[]} dates "2026-01-31", ...: the same suffix (a time) after each */
function dateSeries(dates) {
  const suffix = dates[0][4];
  const parts = dates.map((m) => ({ y: Number(m[1]), m: Number(m[2]) - 1, d: Number(m[3]) }));
  const days = parts.map((p) => Date.UTC(p.y, p.m, p.d) / DAY_MS);
  if (parts.some((p, i) => new Date(days[i] * DAY_MS).getUTCDate() !== p.d)) return null; // not a real date
  const show = (ms) => new Date(ms).toISOString().slice(0, 10) + suffix;
  if (parts.length === 1) return (i) => show((days[0] + i) * DAY_MS);
  const months = parts.map((p) => p.y * 12 + p.m);
  const monthStep = months[1] - months[0];
  const sameDay = parts.every((p) => p.d === parts[0].d) || parts.every((p) => isMonthEnd(p));
  if (monthStep !== 0 && sameDay && months.every((m, i) => m - months[0] === i * monthStep)) {
    const lastDay = parts.every((p) => isMonthEnd(p));
    return (i) => {
      const month = months[0] + i * monthStep;
      const y = Math.floor(month / 12);
      const m = month - y * 12;
      const d = lastDay ? daysIn(y, m) : Math.min(parts[0].d, daysIn(y, m));
      return show(Date.UTC(y, m, d));
    };
  }
  const step = days[1] - days[0];
  if (step !== 0 && days.every((d, i) => d - days[0] === i * step)) return (i) => show((days[0] + i * step) * DAY_MS);
  return null;
}

const daysIn = (y, m) => new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
const isMonthEnd = (p) => p.d === daysIn(p.y, p.m);

/** @typedef {{r0: number, r1: number, c0: number, c1: number}} Range */

/**
 * Which cells a drag of the fill handle from `range` to the cell (r, c) fills: the rows below it
 * or the columns right of it (whichever the pointer went further along), or null (still inside).
 * @param {Range} range @param {number} r @param {number} c
 * @returns {(Range & {direction: "down" | "right"}) | null}
 */
export function fillTarget(range, r, c) {
  const down = r - range.r1;
  const right = c - range.c1;
  if (down <= 0 && right <= 0) return null;
  if (down >= right) return { direction: "down", r0: range.r1 + 1, r1: r, c0: range.c0, c1: range.c1 };
  return { direction: "right", r0: range.r0, r1: range.r1, c0: range.c1 + 1, c1: c };
}
