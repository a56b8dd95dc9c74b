// Column widths: the column's own, or the one this browser dragged it to (kept per sheet in
// localStorage), and the drag on a column head's grip that changes it.

const MIN_W = 40;
const DEFAULT_W = 140;

export class ColumnWidths {
  /** @param {string|number} sheetId @param {() => void} changed called while a drag changes a width */
  constructor(sheetId, changed) {
    this.key = `gridcast-widths-${sheetId}`;
    this.changed = changed;
    this.widths = JSON.parse(localStorage.getItem(this.key) || "{}");
    this.view = {}; // a saved view's widths, over this browser's
  }

  width(column) {
    return this.view[column.key] ?? this.widths[column.key] ?? column.width ?? DEFAULT_W;
  }

  /** Show a saved view's widths ({key: px}; {} for none). */
  setView(widths) {
    this.view = { ...widths };
    this.changed();
  }

  /** Every width set by hand or by the view: what a saved view keeps. */
  explicit() {
    return { ...this.widths, ...this.view };
  }

  /** A drag from a pointerdown on the grip of column `column`; saved when the pointer is let go. */
  startResize(event, column) {
    event.preventDefault();
    const startX = event.clientX;
    const startW = this.width(column);
    const move = (e) => {
      const width = Math.max(MIN_W, Math.round(startW + e.clientX - startX));
      if (column.key in this.view) this.view[column.key] = width;
      else this.widths[column.key] = width;
      this.changed();
    };
    const up = () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      localStorage.setItem(this.key, JSON.stringify(this.widths));
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  }
}
