// The selected range as a store without the DOM: the active cell and the anchor the range is
// stretched from, changed only by named actions, every one clamped to the sheet's size.

export const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));

export class Selection {
  constructor() {
    this.active = { r: 0, c: 0 };
    this.anchor = { r: 0, c: 0 };
  }

  /** {r0, r1, c0, c1}: the rows and columns selected, inclusive. */
  range() {
    return {
      r0: Math.min(this.active.r, this.anchor.r),
      r1: Math.max(this.active.r, this.anchor.r),
      c0: Math.min(this.active.c, this.anchor.c),
      c1: Math.max(this.active.c, this.anchor.c),
    };
  }

  inRows(r) {
    const { r0, r1 } = this.range();
    return r >= r0 && r <= r1;
  }

  inCols(c) {
    const { c0, c1 } = this.range();
    return c >= c0 && c <= c1;
  }

  isActive(r, c) {
    return this.active.r === r && this.active.c === c;
  }

  /** Go to a cell (within rows x cols); `extend` keeps the anchor, stretching the range. */
  select(r, c, { rows, cols }, extend = false) {
    this.active = { r: clamp(r, 0, Math.max(0, rows - 1)), c: clamp(c, 0, Math.max(0, cols - 1)) };
    if (!extend) this.anchor = { ...this.active };
  }

  /** Move the active cell while dragging: the anchor stays. */
  dragTo(r, c, { rows }) {
    this.active = { r: clamp(r, 0, rows - 1), c };
  }

  /** The whole column c (from the anchor's column with `extend`). */
  selectColumn(c, { rows }, extend = false) {
    this.anchor = { r: 0, c: extend ? this.anchor.c : c };
    this.active = { r: Math.max(0, rows - 1), c };
  }

  /** The whole row r (from the anchor's row with `extend`). */
  selectRow(r, { cols }, extend = false) {
    this.anchor = { r: extend ? this.anchor.r : r, c: 0 };
    this.active = { r, c: Math.max(0, cols - 1) };
  }

  selectAll({ rows, cols }) {
    this.anchor = { r: 0, c: 0 };
    this.active = { r: rows - 1, c: cols - 1 };
  }

  /** Select a block of height x width from the cell (r, c) (what a paste covered). */
  selectBlock(r, c, height, width) {
    this.anchor = { r, c };
    this.active = { r: r + height - 1, c: c + width - 1 };
  }
}
