// What the grid writes over the selection: clear it, fill it down from its first row, flip a
// checkbox cell. Each loads the rows it needs first (at most 10,000).
import { cellEditor } from "./editors.js";

const MAX_ROWS = 10_000;

export class RangeWrites {
  /** @param {import("./index.js").Grid} grid */
  constructor(grid) {
    this.grid = grid;
  }

  /** The selected rows, loaded (undefined for a row that went away meanwhile). */
  async rows() {
    const { r0, r1 } = this.grid.selection.range();
    if (r1 - r0 + 1 > MAX_ROWS) throw new Error("Select at most 10,000 rows for this.");
    return this.grid.model.rowsFrom(r0, r1 - r0 + 1);
  }

  selectedKeys() {
    const { c0, c1 } = this.grid.selection.range();
    return this.grid.model.columns.slice(c0, c1 + 1).map((c) => c.key);
  }

  async clear() {
    const grid = this.grid;
    if (grid.refuseIfReadOnly()) return;
    try {
      const keys = this.selectedKeys();
      const rows = await this.rows();
      const cells = rows.filter(Boolean).flatMap((row) => keys.map((col) => ({ row: row.id, col, value: null })));
      if (cells.length) grid.model.setCells(cells, grid.options.maxBatchCells);
    } catch (error) {
      grid.options.onMessage?.(error.message);
    }
  }

  async fillDown() {
    const grid = this.grid;
    const model = grid.model;
    if (grid.refuseIfReadOnly()) return;
    try {
      const keys = this.selectedKeys();
      const rows = (await this.rows()).filter(Boolean);
      if (rows.length < 2) return;
      const source = rows[0];
      const cells = rows.slice(1).flatMap((row) =>
        keys.map((col) => ({ row: row.id, col, value: cellEditor(model.column(col).type).editText(model.cell(source, col).value) })),
      );
      model.setCells(cells, grid.options.maxBatchCells);
    } catch (error) {
      grid.options.onMessage?.(error.message);
    }
  }

  /** Flip the active cell, for an editor that toggles (a checkbox). */
  toggle() {
    const grid = this.grid;
    if (grid.refuseIfReadOnly()) return;
    const { r, c } = grid.selection.active;
    const row = grid.model.rowAt(r);
    const column = grid.model.columns[c];
    const toggle = column && cellEditor(column.type).toggle;
    if (!row || !toggle) return;
    grid.model.setCells([{ row: row.id, col: column.key, value: toggle(grid.model.cell(row, column.key).value) }]);
  }
}
