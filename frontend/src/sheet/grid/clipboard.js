// Copy, cut and paste as tab-separated text (what spreadsheet programs exchange): a copy of rows
// not loaded yet loads them and writes the clipboard afterwards; a paste past the last row adds rows.
import { parseTsv, toTsv } from "../clipboard.js";
import { cellEditor } from "./editors.js";

const MAX_ROWS = 10_000;

export class Clipboard {
  /** @param {import("./index.js").Grid} grid */
  constructor(grid) {
    this.grid = grid;
    grid.root.addEventListener("copy", (e) => this.copy(e));
    grid.root.addEventListener("cut", (e) => this.copy(e, true));
    grid.root.addEventListener("paste", (e) => this.paste(e));
  }

  /** The selected columns of these rows as TSV. */
  rangeText(rows) {
    const model = this.grid.model;
    const { c0, c1 } = this.grid.selection.range();
    const columns = model.columns.slice(c0, c1 + 1);
    return toTsv(rows.map((row) => columns.map((column) => cellEditor(column.type).editText(row ? model.cell(row, column.key).value : null))));
  }

  copy(event, cut = false) {
    const grid = this.grid;
    if (grid.editing.open) return;
    event.preventDefault();
    const { r0, r1 } = grid.selection.range();
    const rows = [];
    let loaded = true;
    for (let r = r0; r <= r1 && loaded; r++) {
      loaded = grid.model.isLoaded(r);
      rows.push(grid.model.rowAt(r));
    }
    if (loaded) event.clipboardData.setData("text/plain", this.rangeText(rows));
    else grid.writes.rows().then((all) => navigator.clipboard.writeText(this.rangeText(all))).catch((e) => grid.options.onMessage?.(e.message));
    if (cut) grid.writes.clear();
  }

  async paste(event) {
    const grid = this.grid;
    if (grid.editing.open) return;
    event.preventDefault();
    if (grid.refuseIfReadOnly()) return;
    const block = parseTsv(event.clipboardData.getData("text/plain"));
    if (!block.length) return;
    try {
      await this.pasteBlock(block);
    } catch (error) {
      grid.options.onMessage?.(error.message);
    }
  }

  /** Put a block of values at the active cell; rows past the end of the sheet are added. */
  async pasteBlock(block) {
    const grid = this.grid;
    const model = grid.model;
    const { r, c } = grid.selection.active;
    const columns = model.columns.slice(c, c + Math.max(...block.map((line) => line.length)));
    if (block.length > MAX_ROWS) throw new Error("Paste at most 10,000 rows at once.");
    const existing = (await model.rowsFrom(r, block.length)).filter(Boolean);
    const cells = [];
    existing.forEach((row, i) => block[i].forEach((value, j) => columns[j] && cells.push({ row: row.id, col: columns[j].key, value })));
    if (cells.length) model.setCells(cells, grid.options.maxBatchCells);
    const extra = block.slice(existing.length).map((line) => Object.fromEntries(line.map((v, j) => [columns[j]?.key, v]).filter(([k, v]) => k && v !== "")));
    if (extra.length) {
      if (model.view.filters.length || model.view.sort) throw new Error("Clear the sort and filter to paste past the last row.");
      model.write({ type: "insert_rows", rows: extra });
    }
    grid.selection.selectBlock(r, c, block.length, columns.length);
    grid.changed();
  }
}
