// Copy, cut and paste as tab-separated text (what spreadsheet programs exchange): a copy of rows
// not loaded yet loads them and writes the clipboard afterwards; a paste past the last row adds rows.
// A paste sends text: the server converts each cell as if typed (column type and rules), writes
// those that convert as one operation and names the others, which the summary reports.
import { parseTsv, pasteSummary, toTsv } from "../clipboard.js";
import { cellRef } from "./aria.js";
import { cellEditor } from "./editors.js";

const MAX_ROWS = 10_000;

export class Clipboard {
  /** @param {import("./index.js").Grid} grid */
  constructor(grid) {
    this.grid = grid;
    grid.root.addEventListener("copy", (e) => this.copy(e));
    grid.root.addEventListener("cut", (e) => this.copy(e, true));
    grid.root.addEventListener("paste", (e) => this.paste(e));
    this.refs = new Map(); // op id of a paste -> Map("row id:col" -> "C4"), until it is answered
    grid.model.on("pasted", (opId, skipped, count) => this.report(opId, skipped, count));
    grid.model.on("op", (op, mine) => mine && this.refs.delete(op.op_id));
  }

  /** The cells of a paste the server did not take, in words: a toast and the live region. */
  report(opId, skipped, count) {
    const refs = this.refs.get(opId);
    if (!refs) return;
    this.refs.delete(opId);
    const text = pasteSummary(skipped, count, (row, col) => refs.get(`${row}:${col}`) ?? null);
    this.grid.options.onMessage?.(text, "error");
    this.grid.say(text);
  }

  /** Send cells of a paste (row ids and column keys, with their references for the summary). */
  send(cells, refs) {
    for (const opId of this.grid.model.paste(cells, this.grid.options.maxBatchCells)) this.refs.set(opId, refs);
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
    if (!columns.length) return;
    const existing = (await model.rowsFrom(r, block.length)).filter(Boolean);
    if (existing.length < block.length && (model.filtered() || model.view.sort)) {
      throw new Error("Clear the view, sort and filter to paste past the last row.");
    }
    const refs = new Map();
    const cellsOf = (rows, start, lines) =>
      rows.flatMap((row, i) =>
        lines[i].flatMap((value, j) => {
          if (!columns[j]) return [];
          refs.set(`${row.id}:${columns[j].key}`, cellRef(start + i, c + j));
          return [{ row: row.id, col: columns[j].key, value }];
        }),
      );
    const cells = cellsOf(existing, r, block);
    if (cells.length) this.send(cells, refs);
    grid.selection.selectBlock(r, c, block.length, columns.length);
    grid.changed();
    const lines = block.slice(existing.length);
    if (lines.length) {
      // The new rows first (empty), then their cells as a paste: each converted as typed, as above.
      const start = r + existing.length;
      const inserted = await model.writeAndWait({ type: "insert_rows", count: lines.length });
      const added = cellsOf(inserted.changes.rows, start, lines).filter((cell) => cell.value !== "");
      if (added.length) this.send(added, refs);
    }
  }
}
