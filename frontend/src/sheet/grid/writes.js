// What the grid writes over the selection: clear it, fill it (the fill handle, Ctrl+D), flip a
// checkbox cell. Each loads the rows it needs first (at most 10,000).
import { editorFor, isComputed } from "../../lib/columnTypes.js";
import { fillSeries } from "../fill.js";
import { cellEditor } from "./editors.js";

const MAX_ROWS = 10_000;
/** Editors whose cells take only listed values: a fill repeats them, never counts on. */
const LISTED = new Set(["choice", "checkbox"]);

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

  /** The selected columns' keys, formula columns left out (the server computes those). */
  selectedKeys() {
    const { c0, c1 } = this.grid.selection.range();
    return this.grid.model.columns.slice(c0, c1 + 1).filter((c) => !isComputed(c.type)).map((c) => c.key);
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

  /** Ctrl+D: the selection's first row copied into its other rows (formula columns skipped). */
  fillDown() {
    const { r0, r1, c0, c1 } = this.grid.selection.range();
    if (r1 > r0) return this.fill({ r0, r1: r0, c0, c1 }, { direction: "down", r0: r0 + 1, r1, c0, c1 }, { copy: true });
  }

  /**
   * Fill `target` (rows below `source` or columns right of it) with the series that continues the
   * source's cells (fill.js), as ONE edit: one undo takes it all back. Formula columns are skipped.
   * @param {import("../fill.js").Range} source
   * @param {import("../fill.js").Range & {direction: "down" | "right"}} target
   * @param {{toggle?: boolean, copy?: boolean}} options toggle: Ctrl held; copy: repeat the source as it is
   */
  async fill(source, target, { toggle = false, copy = false } = {}) {
    const grid = this.grid;
    const model = grid.model;
    if (grid.refuseIfReadOnly()) return false;
    try {
      const down = target.direction === "down";
      const last = down ? target.r1 : source.r1;
      if (last - source.r0 + 1 > MAX_ROWS) throw new Error("Fill at most 10,000 rows at once.");
      const rows = await model.rowsFrom(source.r0, last - source.r0 + 1);
      const columns = model.columns;
      const text = (row, c) => cellEditor(columns[c].type).editText(model.cell(row, columns[c].key).value);
      const options = (/** @type {number[]} */ cs) => ({ toggle, repeatOnly: copy || cs.some((c) => LISTED.has(editorFor(columns[c].type))) });
      const cells = [];
      const put = (row, c, value) => row && columns[c] && !isComputed(columns[c].type) && cells.push({ row: row.id, col: columns[c].key, value });
      if (down) {
        const from = rows.slice(0, source.r1 - source.r0 + 1).filter(Boolean);
        const into = rows.slice(source.r1 - source.r0 + 1);
        for (let c = source.c0; c <= source.c1; c++) {
          if (isComputed(columns[c].type)) continue;
          const series = fillSeries(from.map((row) => text(row, c)), into.length, options([c]));
          into.forEach((row, i) => put(row, c, series[i]));
        }
      } else {
        const cs = Array.from({ length: source.c1 - source.c0 + 1 }, (_, i) => source.c0 + i);
        for (const row of rows.filter(Boolean)) {
          const series = fillSeries(cs.map((c) => text(row, c)), target.c1 - target.c0 + 1, options(cs));
          series.forEach((value, i) => put(row, target.c0 + i, value));
        }
      }
      const max = grid.options.maxBatchCells ?? 5000;
      if (cells.length > max) throw new Error(`Fill at most ${max.toLocaleString()} cells at once.`);
      if (cells.length) model.setCells(cells, max);
      return cells.length > 0;
    } catch (error) {
      grid.options.onMessage?.(error.message);
      return false;
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
