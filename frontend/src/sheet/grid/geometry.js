// Where things are on screen, as plain arithmetic (no DOM): row and column edges, the scroll
// mapping that lets a capped scroll height reach any of a million rows, the window of cells to
// draw, the rectangle of a range and the cell under a point.

export const ROW_H = 28;
export const HEAD_H = 32;
/** Browsers cap element heights: the scroll height stops here and is mapped onto the real one. */
export const MAX_SCROLL = 8_000_000;

/** The left edge of every column, and the right edge of the last: [0, w0, w0 + w1, ...]. */
export function columnXs(columns, widthOf) {
  const xs = [0];
  for (const column of columns) xs.push(xs[xs.length - 1] + widthOf(column));
  return xs;
}

export const contentHeight = (total) => total * ROW_H + HEAD_H;
export const scrollHeight = (total) => Math.min(contentHeight(total), MAX_SCROLL);

/** Scroll position -> pixel offset in the sheet's real height. */
export function virtualTop(scrollTop, total, viewH) {
  const room = scrollHeight(total) - viewH;
  if (room <= 0) return 0;
  return (Math.min(scrollTop, room) * (contentHeight(total) - viewH)) / room;
}

/** Pixel offset in the sheet's real height -> scroll position (null: nothing to scroll). */
export function scrollTopFor(top, total, viewH) {
  const room = scrollHeight(total) - viewH;
  if (room <= 0) return null;
  return (top * room) / (contentHeight(total) - viewH);
}

/** What one frame draws: rows first..first+rowCount-1 shifted by shiftY, columns c0..c1-1. */
export function visibleWindow({ top, left, total, viewW, viewH, rowHeadW, xs }) {
  const columnCount = xs.length - 1;
  const first = Math.floor(top / ROW_H);
  const shiftY = HEAD_H - (top - first * ROW_H);
  const rowCount = Math.min(Math.ceil((viewH - HEAD_H) / ROW_H) + 1, Math.max(0, total - first));
  let c0 = 0;
  while (c0 < columnCount - 1 && xs[c0 + 1] <= left) c0++;
  let c1 = c0;
  while (c1 < columnCount && xs[c1] < left + viewW - rowHeadW) c1++;
  return { first, rowCount, shiftY, left, xs, c0, c1 };
}

/** The on-screen rectangle (view coordinates) of rows r0..r1 and columns c0..c1, clipped; null when off screen. */
export function rangeRect(layout, rowHeadW, r0, r1, c0, c1) {
  const { first, rowCount, shiftY, left, xs } = layout;
  const top = shiftY + (Math.max(r0, first - 1) - first) * ROW_H;
  const bottom = shiftY + (Math.min(r1, first + rowCount) - first + 1) * ROW_H;
  if (r1 < first || r0 > first + rowCount || !xs[c1 + 1]) return null;
  const x0 = rowHeadW + xs[c0] - left;
  const x1 = rowHeadW + xs[c1 + 1] - left;
  return { x: x0, y: top, w: x1 - x0, h: bottom - top };
}

/** The cell at view coordinates (x, y): {r, c}; r -1 is the column heads, c -1 the row heads. */
export function cellAt(layout, rowHeadW, x, y) {
  const { first, shiftY, left, xs } = layout;
  const r = y < HEAD_H ? -1 : first + Math.floor((y - shiftY) / ROW_H);
  let c = -1;
  if (x >= rowHeadW) {
    const cx = x - rowHeadW + left;
    c = xs.findIndex((edge, i) => i > 0 && cx < edge) - 1;
    if (c < -1) c = xs.length - 2;
  }
  return { r, c };
}

/** The scroll position (top, left) that brings a cell into view, or null for an axis that is fine. */
export function revealScroll({ r, c, top, left, viewW, viewH, rowHeadW, xs }) {
  const y = r * ROW_H;
  const visible = viewH - HEAD_H - ROW_H;
  let newTop = null;
  if (y < top) newTop = y;
  else if (y > top + visible) newTop = y - visible;
  const room = viewW - rowHeadW;
  let newLeft = null;
  if (xs[c] < left) newLeft = xs[c];
  else if (xs[c + 1] > left + room) newLeft = xs[c + 1] - room;
  return { top: newTop, left: newLeft };
}
