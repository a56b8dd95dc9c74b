// Where things are on screen, as plain arithmetic (no DOM): row and column edges, the scroll
// mapping that lets a capped scroll height reach any of a million rows, the window of cells to
// draw, the rectangle of a range and the cell under a point. The first `frozen` columns stay put
// while the others scroll under them.

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

/** What one frame draws: rows first..first+rowCount-1 shifted by shiftY, the frozen columns
 * 0..frozen-1 and the scrolled ones c0..c1-1 (c0 >= frozen). */
export function visibleWindow({ top, left, total, viewW, viewH, rowHeadW, xs, frozen = 0 }) {
  const columnCount = xs.length - 1;
  const first = Math.floor(top / ROW_H);
  const shiftY = HEAD_H - (top - first * ROW_H);
  const rowCount = Math.min(Math.ceil((viewH - HEAD_H) / ROW_H) + 1, Math.max(0, total - first));
  const frozenW = xs[frozen];
  let c0 = frozen;
  while (c0 < columnCount - 1 && xs[c0 + 1] <= left + frozenW) c0++;
  let c1 = c0;
  while (c1 < columnCount && xs[c1] < left + viewW - rowHeadW) c1++;
  return { first, rowCount, shiftY, left, xs, frozen, c0, c1 };
}

/** The on-screen x of column c's left edge (view coordinates). */
export function columnX(layout, rowHeadW, c) {
  const { left, xs, frozen = 0 } = layout;
  return rowHeadW + xs[c] - (c < frozen ? 0 : left);
}

/** The columns a frame draws, in order: the frozen ones, then the scrolled ones on screen. */
export function drawnColumns({ frozen = 0, c0, c1 }) {
  const drawn = [];
  for (let c = 0; c < frozen; c++) drawn.push(c);
  for (let c = c0; c < c1; c++) drawn.push(c);
  return drawn;
}

/** Where each drawn column is on screen (view coordinates): [{c, x, w, frozen}], for what lines up under the columns. */
export function columnBoxes(layout, rowHeadW) {
  const { xs, frozen = 0 } = layout;
  return drawnColumns(layout).map((c) => ({ c, x: columnX(layout, rowHeadW, c), w: xs[c + 1] - xs[c], frozen: c < frozen }));
}

/** The on-screen span [x0, x1) of columns c0..c1, the scrolled part clipped at the frozen edge; null when hidden under it. */
export function columnsSpan(layout, rowHeadW, c0, c1) {
  const { xs, frozen = 0 } = layout;
  const edge = rowHeadW + xs[frozen];
  const x0 = c0 < frozen ? columnX(layout, rowHeadW, c0) : Math.max(edge, columnX(layout, rowHeadW, c0));
  const x1 = c1 < frozen ? rowHeadW + xs[c1 + 1] : Math.max(edge, rowHeadW + xs[c1 + 1] - layout.left);
  return x1 > x0 ? [x0, x1] : null;
}

/** The on-screen rectangle (view coordinates) of rows r0..r1 and columns c0..c1, clipped; null when off screen. */
export function rangeRect(layout, rowHeadW, r0, r1, c0, c1) {
  const { first, rowCount, shiftY, xs } = layout;
  const top = shiftY + (Math.max(r0, first - 1) - first) * ROW_H;
  const bottom = shiftY + (Math.min(r1, first + rowCount) - first + 1) * ROW_H;
  if (r1 < first || r0 > first + rowCount || !xs[c1 + 1]) return null;
  const span = columnsSpan(layout, rowHeadW, c0, c1);
  if (!span) return null;
  return { x: span[0], y: top, w: span[1] - span[0], h: bottom - top };
}

/** The cell at view coordinates (x, y): {r, c}; r -1 is the column heads, c -1 the row heads. */
export function cellAt(layout, rowHeadW, x, y) {
  const { first, shiftY, left, xs, frozen = 0 } = layout;
  const r = y < HEAD_H ? -1 : first + Math.floor((y - shiftY) / ROW_H);
  let c = -1;
  if (x >= rowHeadW) {
    let cx = x - rowHeadW;
    if (cx >= xs[frozen]) cx += left;
    c = xs.findIndex((edge, i) => i > 0 && cx < edge) - 1;
    if (c < -1) c = xs.length - 2;
  }
  return { r, c };
}

/** How many of the `wanted` leading columns can stay frozen: their width leaves `room` px to scroll the others in. */
export function frozenThatFit(xs, wanted, viewW, rowHeadW, room = 100) {
  let frozen = Math.min(wanted, xs.length - 1);
  while (frozen > 0 && rowHeadW + xs[frozen] > viewW - room) frozen--;
  return frozen;
}

/** The scroll position (top, left) that brings a cell into view, or null for an axis that is fine. */
export function revealScroll({ r, c, top, left, viewW, viewH, rowHeadW, xs, frozen = 0 }) {
  const y = r * ROW_H;
  const visible = viewH - HEAD_H - ROW_H;
  let newTop = null;
  if (y < top) newTop = y;
  else if (y > top + visible) newTop = y - visible;
  const room = viewW - rowHeadW;
  let newLeft = null;
  if (c >= frozen) {
    if (xs[c] < left + xs[frozen]) newLeft = xs[c] - xs[frozen];
    else if (xs[c + 1] > left + room) newLeft = xs[c + 1] - room;
  }
  return { top: newTop, left: newLeft };
}
