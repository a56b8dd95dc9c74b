// The sheet as this page knows it: columns, rows fetched by window from the API and cached in
// blocks, operations applied in version order, and the user's own edits shown before their ack.
// Plain objects, outside Svelte's reactivity: the grid reads them when it draws a frame.

import { viewScope } from "./views.js";

const BLOCK = 100;
const MAX_BLOCKS = 400; // 40,000 rows kept
const LOG_KEEP = 20_000;
const PARALLEL_FETCHES = 4;

const cellKey = (row, col) => `${row}\u0000${col}`;

export class SheetModel {
  /** urls: where the sheet and its rows are read ({sheet, rows}); a public link's page reads its own. */
  constructor({ sheetId, columns, version, api, urls = null, recompute = null }) {
    this.sheetId = sheetId;
    this.api = api;
    this.urls = urls ?? { sheet: `/api/v1/sheets/${sheetId}/`, rows: `/api/v1/sheets/${sheetId}/rows/` };
    this.version = version; // what the socket has applied
    this.allColumns = []; // every column, in sheet order
    this.columns = []; // the ones shown, in the order shown (a saved view hides and reorders)
    /** @type {{hidden: string[], order: string[], frozen: number | string[]}} */
    this.layout = { hidden: [], order: [], frozen: [] };
    this.frozen = 0; // how many of the shown columns are frozen (the leading ones)
    this.setColumns(columns);
    this.total = null;
    this.view = { id: null, sort: null, filters: [] };
    this.blocks = new Map(); // block number -> {rows, version}
    this.stale = new Map(); // blocks of before the last layout change, shown until refetched
    this.wanted = new Set();
    this.loading = new Map(); // block number -> generation
    this.generation = 0;
    this.rowsById = new Map();
    this.log = []; // recent cell changes {version, row, col, value}
    this.logFloor = version; // every cell change after this version is in the log
    this.pending = new Map(); // cellKey -> {value, opId}
    this.pendingByOp = new Map(); // opId -> [cellKey]
    this.errors = new Map(); // cellKey -> {value, message}
    this.socket = null;
    // Formula columns recomputed in the background: {columns, done, total, after} rows, or null.
    // Their cells keep their former values (a new column's are empty) until their batch arrives,
    // shown as not final yet: the batches go by row id, rows up to `after` are done.
    this.recompute = recompute;
    this.listeners = { change: [], flash: [], op: [], total: [], refused: [], pasted: [] };
    this.waiting = new Map(); // opId -> {resolve, reject}: writes whose ack someone awaits
  }

  on(event, fn) {
    this.listeners[event].push(fn);
  }

  emit(event, ...args) {
    for (const fn of this.listeners[event]) fn(...args);
  }

  setColumns(columns) {
    this.allColumns = columns.map((c) => ({ ...c })).sort((a, b) => a.position - b.position);
    this.relayout();
  }

  /** Which columns show, in what order, which stay frozen: {hidden: [key], order: [key], frozen: [key] or n}
   * (keys first in `order`, then the rest in sheet order; frozen keys lead, or the first n shown are frozen). */
  setLayout({ hidden = [], order = [], frozen = [] } = {}) {
    this.layout = { hidden, order, frozen };
    this.relayout();
    this.emit("change", { layout: true });
  }

  relayout() {
    const hidden = new Set(this.layout.hidden);
    const rank = new Map(this.layout.order.map((key, i) => [key, i]));
    const shown = this.allColumns.filter((c) => !hidden.has(c.key));
    const ranked = shown.filter((c) => rank.has(c.key)).sort((a, b) => rank.get(a.key) - rank.get(b.key));
    const ordered = [...ranked, ...shown.filter((c) => !rank.has(c.key))];
    const frozen = this.layout.frozen;
    if (Array.isArray(frozen)) {
      const keys = new Set(frozen);
      const leading = frozen.map((key) => ordered.find((c) => c.key === key)).filter(Boolean);
      this.columns = [...leading, ...ordered.filter((c) => !keys.has(c.key))];
      this.frozen = leading.length;
    } else {
      this.columns = ordered;
      this.frozen = Math.min(frozen, ordered.length);
    }
  }

  /** The keys of the frozen columns shown (what a saved view keeps). */
  frozenKeys() {
    return this.columns.slice(0, this.frozen).map((c) => c.key);
  }

  column(key) {
    return this.allColumns.find((c) => c.key === key);
  }

  // --- rows by window ---------------------------------------------------------------------------

  /** The row at this index, or undefined while its block loads (the load is requested). */
  rowAt(index) {
    const block = Math.floor(index / BLOCK);
    const fresh = this.blocks.get(block);
    if (fresh) return fresh.rows[index - block * BLOCK];
    this.want(block);
    return this.stale.get(block)?.rows[index - block * BLOCK];
  }

  isLoaded(index) {
    return this.blocks.has(Math.floor(index / BLOCK));
  }

  want(block) {
    if (this.loading.get(block) === this.generation) return;
    this.wanted.add(block);
    queueMicrotask(() => this.pump());
  }

  /** Forget requests for blocks far from what is on screen (after a jump across the sheet). */
  keepOnly(firstIndex, lastIndex) {
    const lo = Math.floor(firstIndex / BLOCK) - 1;
    const hi = Math.floor(lastIndex / BLOCK) + 1;
    for (const block of this.wanted) if (block < lo || block > hi) this.wanted.delete(block);
  }

  pump() {
    const running = [...this.loading.values()].filter((g) => g === this.generation).length;
    let free = PARALLEL_FETCHES - running;
    for (const block of this.wanted) {
      if (free <= 0) break;
      this.wanted.delete(block);
      if (this.blocks.has(block) || this.loading.get(block) === this.generation) continue;
      free -= 1;
      this.fetchBlock(block);
    }
  }

  rowsUrl(offset, limit) {
    const scope = viewScope(this.view);
    return `${this.urls.rows}?${new URLSearchParams({ offset, limit })}${scope ? `&${scope}` : ""}`;
  }

  async fetchBlock(block) {
    const generation = this.generation;
    this.loading.set(block, generation);
    try {
      const page = await this.api("GET", this.rowsUrl(block * BLOCK, BLOCK));
      if (generation !== this.generation) return;
      this.storeBlock(block, page);
    } catch (error) {
      if (generation === this.generation) this.emit("change", { error: error.message });
    } finally {
      if (this.loading.get(block) === generation) this.loading.delete(block);
      this.pump();
    }
  }

  storeBlock(block, page) {
    if (page.version < this.logFloor) {
      // Too old to bring up to date from the log (rare: the page took very long): fetch again.
      this.want(block);
      return;
    }
    const rows = page.rows.map((r) => ({ id: r.id, values: r.values, v: page.version }));
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const change of this.log) {
      const row = change.version > page.version && byId.get(change.row);
      if (row) row.values[change.col] = change.value;
    }
    for (const row of rows) this.rowsById.set(row.id, row);
    this.blocks.set(block, { rows, version: page.version });
    this.stale.delete(block);
    this.trimBlocks(block);
    if (this.total !== page.total) {
      this.total = page.total;
      this.emit("total", this.total);
    }
    this.emit("change", { rows: true });
  }

  trimBlocks(near) {
    if (this.blocks.size <= MAX_BLOCKS) return;
    const far = [...this.blocks.keys()].sort((a, b) => Math.abs(b - near) - Math.abs(a - near));
    for (const block of far.slice(0, this.blocks.size - MAX_BLOCKS)) {
      for (const row of this.blocks.get(block).rows) this.rowsById.delete(row.id);
      this.blocks.delete(block);
    }
  }

  /** The rows from `start` (count of them), loading what is missing. */
  async rowsFrom(start, count) {
    const end = Math.min(start + count, this.total ?? start + count);
    const missing = [];
    for (let b = Math.floor(start / BLOCK); b * BLOCK < end; b++) if (!this.blocks.has(b)) missing.push(b);
    for (let i = 0; i < missing.length; i += 10) {
      const first = missing[i];
      const last = missing[Math.min(i + 9, missing.length - 1)];
      const generation = this.generation;
      const limit = Math.min((last - first + 1) * BLOCK, 1000);
      const page = await this.api("GET", this.rowsUrl(first * BLOCK, limit));
      if (generation !== this.generation) return this.rowsFrom(start, count);
      for (let b = first; b <= last; b++) {
        const slice = page.rows.slice((b - first) * BLOCK, (b - first + 1) * BLOCK);
        this.storeBlock(b, { ...page, rows: slice });
      }
    }
    const rows = [];
    for (let i = start; i < end; i++) rows.push(this.rowAt(i));
    return rows;
  }

  /** Rows moved, came or went (or the view changed): fetch windows again, showing the old ones meanwhile. */
  invalidate({ keepShowing = true } = {}) {
    this.generation += 1;
    this.stale = keepShowing ? new Map([...this.stale, ...this.blocks]) : new Map();
    this.blocks = new Map();
    this.wanted.clear();
    this.emit("change", { layout: true });
  }

  /** Whether some rows may be left out (a saved view may filter): totals then come from the server. */
  filtered() {
    return Boolean(this.view.filters.length || this.view.id);
  }

  setView(view) {
    this.view = { ...this.view, ...view };
    this.total = null;
    this.invalidate({ keepShowing: false });
  }

  /** Start over from the server's snapshot (after `reload`, or when far behind). */
  async reload() {
    const sheet = await this.api("GET", this.urls.sheet);
    this.setColumns(sheet.columns);
    this.recompute = sheet.recompute ?? null;
    this.version = sheet.version;
    this.logFloor = sheet.version;
    this.log = [];
    this.invalidate();
    return sheet;
  }

  // --- what a cell shows ------------------------------------------------------------------------

  cell(row, col) {
    const key = cellKey(row.id, col);
    const error = this.errors.get(key);
    if (error) return { value: error.value, error: error.message };
    const pending = this.pending.get(key);
    if (pending) return { value: pending.value, pending: true };
    const recomputing = this.recompute && row.id > this.recompute.after && this.recompute.columns.includes(col);
    return recomputing ? { value: row.values[col] ?? null, recomputing: true } : { value: row.values[col] ?? null };
  }

  // --- writes -------------------------------------------------------------------------------------

  /** Set cells ([{row, col, value}]): shown at once, sent as edits of at most maxCells. */
  setCells(cells, maxCells = 5000) {
    const ids = [];
    for (let i = 0; i < cells.length; i += maxCells) {
      const batch = cells.slice(i, i + maxCells).map((c) => ({ row: c.row, col: c.col, value: c.value === "" ? null : c.value }));
      const opId = crypto.randomUUID();
      const keys = batch.map((c) => cellKey(c.row, c.col));
      batch.forEach((c, j) => {
        this.errors.delete(keys[j]);
        this.pending.set(keys[j], { value: c.value, opId });
      });
      this.pendingByOp.set(opId, keys);
      this.socket.write({ type: "edit", op_id: opId, cells: batch });
      ids.push(opId);
    }
    this.emit("change", { cells: true });
    return ids;
  }

  write(frame) {
    return this.socket.write(frame);
  }

  /** Write and wait: the acknowledged operation, or an Error with the server's message. */
  writeAndWait(frame) {
    return new Promise((resolve, reject) => this.waiting.set(this.write(frame), { resolve, reject }));
  }

  /**
   * Paste cells of text ([{row, col, value}]): the server converts each as if typed and writes
   * those that convert as one operation (per batch of maxCells). Shown at once; the cells that do
   * not convert show the text and why (as a refused edit does), and `pasted` is emitted with them.
   */
  paste(cells, maxCells = 5000) {
    const ids = [];
    for (let i = 0; i < cells.length; i += maxCells) {
      const batch = cells.slice(i, i + maxCells);
      const opId = crypto.randomUUID();
      const keys = batch.map((c) => cellKey(c.row, c.col));
      batch.forEach((c, j) => {
        this.errors.delete(keys[j]);
        this.pending.set(keys[j], { value: c.value === "" ? null : c.value, opId });
      });
      this.pendingByOp.set(opId, keys);
      this.socket.write({ type: "paste", op_id: opId, cells: batch });
      ids.push(opId);
    }
    this.emit("change", { cells: true });
    return ids;
  }

  /** Cells of a paste of mine the server did not take: shown with their text and reason. */
  skipped(opId, skipped = [], count = skipped.length) {
    for (const c of skipped) this.errors.set(cellKey(c.row, c.col), { value: c.value, message: c.message });
    if (skipped.length) this.emit("refused", skipped[0].row, skipped[0].col, skipped[0].message); // the first is pointed at
    this.emit("pasted", opId, skipped, count);
  }

  settle(opId) {
    for (const key of this.pendingByOp.get(opId) ?? []) {
      if (this.pending.get(key)?.opId === opId) this.pending.delete(key);
    }
    this.pendingByOp.delete(opId);
  }

  /** The server refused a write: the cell shows the refused value and why. */
  refused(frame, write) {
    this.waiting.get(write?.op_id)?.reject(new Error(frame.message));
    this.waiting.delete(write?.op_id);
    if (write?.type === "paste") {
      this.settle(write.op_id);
      if (frame.skipped) this.skipped(write.op_id, frame.skipped, frame.skipped_count);
      this.emit("change", { cells: true });
    } else if (write?.type === "edit") {
      for (const c of write.cells) {
        const key = cellKey(c.row, c.col);
        if (frame.row === c.row && frame.col === c.col) {
          this.errors.set(key, { value: c.value, message: frame.message });
          this.emit("refused", c.row, c.col, frame.message);
        }
      }
      this.settle(write.op_id);
      this.emit("change", { cells: true });
    }
  }

  clearError(rowId, col) {
    this.errors.delete(cellKey(rowId, col));
  }

  // --- operations, in version order ---------------------------------------------------------------

  apply(op, mine) {
    const c = op.changes || {};
    switch (op.kind) {
      case "cells.update":
        for (const cell of c.cells) this.changeCell(op.version, cell.row, cell.col, cell.value, !mine);
        break;
      case "rows.insert":
        if (!this.filtered() && this.total !== null) this.total += c.rows.length;
        this.invalidate();
        break;
      case "rows.delete":
        if (!this.filtered() && this.total !== null) this.total = Math.max(0, this.total - c.ids.length);
        for (const id of c.ids) this.rowsById.delete(id);
        this.invalidate();
        break;
      case "rows.move":
        this.invalidate();
        break;
      case "rows.import": // an import into the sheet, or its undo: rows added, rows deleted, cells set
        if (!this.view.filters.length && this.total !== null) this.total = Math.max(0, this.total + c.rows.length - c.ids.length);
        for (const id of c.ids) this.rowsById.delete(id);
        for (const cell of c.cells) this.changeCell(op.version, cell.row, cell.col, cell.value, !mine);
        this.invalidate();
        break;
      case "sheet.restore": // a cell, row, column or the sheet set back to a version (or its undo)
        if (c.columns) this.setColumns(c.columns.map((column) => ({ ...column })));
        if (!this.filtered() && this.total !== null) this.total = Math.max(0, this.total + c.rows.length - c.ids.length);
        for (const id of c.ids) this.rowsById.delete(id);
        for (const cell of c.cells) this.changeCell(op.version, cell.row, cell.col, cell.value, !mine);
        if (c.rows.length || c.ids.length || Object.keys(c.positions).length) this.invalidate();
        break;
      case "column.add":
        this.setColumns([...this.allColumns, { ...c.column }]);
        break;
      case "column.rename":
        if (this.column(c.key)) this.column(c.key).name = c.name;
        for (const [key, options] of Object.entries(c.formulas || {})) if (this.column(key)) this.column(key).options = options;
        break;
      case "column.retype": {
        const column = this.column(c.key);
        if (column) Object.assign(column, { type: c.type, options: c.options || {} });
        if (c.reload || (!c.values && !c.computed)) this.invalidate();
        else for (const [row, value] of Object.entries(c.values)) this.changeCell(op.version, Number(row), c.key, value, false);
        break;
      }
      case "column.move":
        if (this.column(c.key)) this.column(c.key).position = c.position;
        this.setColumns(this.allColumns);
        break;
      case "column.delete":
        this.setColumns(this.allColumns.filter((col) => col.key !== c.key));
        break;
      case "formulas.compute": // a batch of a background recompute: its values (below) and the progress
        this.recompute = c.done >= c.total ? null : { columns: c.columns, done: c.done, total: c.total, after: c.after };
        break;
    }
    if (c.recompute) this.recompute = { ...c.recompute };
    // Formula cells the server recomputed for every row (a formula added or changed, an input deleted).
    if (c.reload && op.kind !== "column.retype") this.invalidate();
    for (const [col, values] of Object.entries(c.computed || {}))
      for (const [row, value] of Object.entries(values)) this.changeCell(op.version, Number(row), col, value, false);
    if (mine) {
      this.settle(op.op_id);
      if (op.skipped) this.skipped(op.op_id, op.skipped, op.skipped_count);
      this.waiting.get(op.op_id)?.resolve(op);
      this.waiting.delete(op.op_id);
    }
    this.version = op.version;
    if (op.kind !== "cells.update" && op.kind !== "column.retype") this.log.push({ version: op.version });
    this.trimLog();
    this.emit("op", op, mine);
    this.emit("change", { op });
  }

  changeCell(version, rowId, col, value, flash) {
    this.log.push({ version, row: rowId, col, value });
    const row = this.rowsById.get(rowId);
    if (row && version > row.v) row.values[col] = value;
    if (flash) this.emit("flash", rowId, col);
  }

  trimLog() {
    if (this.log.length <= LOG_KEEP * 1.25) return;
    const dropped = this.log.splice(0, this.log.length - LOG_KEEP);
    this.logFloor = dropped[dropped.length - 1].version;
  }
}

export const BLOCK_ROWS = BLOCK;
