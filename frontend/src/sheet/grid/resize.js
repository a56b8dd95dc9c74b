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
  }

  width(column) {
    return this.widths[column.key] ?? column.width ?? DEFAULT_W;
  }

  /** A drag from a pointerdown on the grip of column `column`; saved when the pointer is let go. */
  startResize(event, column) {
    event.preventDefault();
    const startX = event.clientX;
    const startW = this.width(column);
    const move = (e) => {
      this.widths[column.key] = Math.max(MIN_W, Math.round(startW + e.clientX - startX));
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
