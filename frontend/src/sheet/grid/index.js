// The grid: a small shell that builds the DOM and composes the parts, each owning one concern —
// geometry (where things are), render (one frame), selection (the range), editing (the cell
// editor), keys, pointer, clipboard, writes (clear, fill, toggle) and resize (column widths).
// Frames are drawn at most once per animation frame; others' edits at most every REMOTE_MS.
import { activeCellText, cellRef, remoteEditText } from "./aria.js";
import { ColumnWidths } from "./resize.js";
import { Clipboard } from "./clipboard.js";
import { Editing } from "./editing.js";
import { cellEditor, displayValue } from "./editors.js";
import { ROW_H, HEAD_H, columnXs, frozenThatFit, revealScroll, scrollTopFor, virtualTop } from "./geometry.js";
import { keyCommand } from "./keys.js";
import { Pointer } from "./pointer.js";
import { Renderer } from "./render.js";
import { Selection } from "./selection.js";
import { RangeWrites } from "./writes.js";

const REMOTE_MS = 100;
let grids = 0;

export class Grid {
  /**
   * @param {HTMLElement} root
   * @param {import("../model.js").SheetModel} model
   * @param {{sheetId: number, readOnly: () => boolean, maxBatchCells?: number, onSelection?: Function,
   *   onColumnMenu?: Function, onUndo?: Function, onRedo?: Function, onMessage?: (text: string, kind?: string) => void,
   *   onHelp?: () => void, onHistory?: () => void, onComments?: () => void, nameOf?: (userId: number) => string,
   *   onColumns?: (boxes: {c: number, x: number, w: number, frozen: boolean, column: any}[], frame: {rowHeadW: number, viewW: number, frozenW: number}) => void}} options
   *   onColumns: after each frame, where the drawn columns are (the footer lines up under them)
   */
  constructor(root, model, options) {
    this.root = root;
    this.model = model;
    this.options = options;
    this.frame = 0;
    this.soonTimer = null;
    this.activeId = `gc-active-${++grids}`; // the active cell's id (aria-activedescendant)
    /** @type {any} what the last frame drew: {first, rowCount, shiftY, left, xs, c0, c1} */
    this.layout = null;
    /** @type {{row: number, col: string} | null} the find bar's active match, highlighted */
    this.found = null;
    /** @type {any[]} the rows the last frame drew (undefined: still loading) */
    this.visibleRows = [];
    /** @type {{row: number, col: string} | null} the cell the server last refused a value of: its reason shows beside it */
    this.refusedCell = null;
    this.build();
    this.selection = new Selection();
    this.widths = new ColumnWidths(options.sheetId, () => this.schedule());
    this.renderer = new Renderer(this);
    this.editing = new Editing(this);
    this.writes = new RangeWrites(this);
    this.pointer = new Pointer(this);
    this.clipboard = new Clipboard(this);
    this.measure();
    this.resizeObserver = new ResizeObserver(() => {
      this.measure();
      this.schedule();
    });
    this.resizeObserver.observe(this.scroller);
    // Others' cell edits may come by the hundred a second: they are drawn within REMOTE_MS,
    // not on every frame, so a burst costs a few renders and repaints a second, not sixty.
    model.on("change", (what) => (what?.op?.kind === "cells.update" && what.op.actor !== null ? this.scheduleSoon() : this.schedule()));
    model.on("total", () => {
      this.measure();
      this.schedule();
    });
    model.on("flash", (rowId, col) => this.renderer.flash(rowId, col));
    model.on("op", (op, mine) => !mine && this.remoteEdit(op));
    model.on("refused", (rowId, col, message) => this.refused(rowId, col, message));
    // The first frame now, not on the next animation frame: the page's embedded rows are there.
    this.render();
  }

  build() {
    const root = this.root;
    root.classList.add("gc-grid");
    root.tabIndex = 0;
    root.setAttribute("role", "grid");
    root.setAttribute("aria-multiselectable", "true");
    // The row numbers, the selection box and the others' selections are drawn for the eye: the
    // rows' aria-rowindex and the cells' aria-selected say the same to screen readers.
    root.innerHTML = `
      <div class="gc-scroller">
        <div class="gc-view">
          <div class="gc-body" role="rowgroup"></div>
          <div class="gc-selection" aria-hidden="true"></div>
          <div class="gc-presence" aria-hidden="true"></div>
          <div class="gc-frozen-edge" aria-hidden="true" hidden></div>
          <div class="gc-fill-preview" aria-hidden="true" hidden></div>
          <div class="gc-fill-handle" aria-hidden="true" title="Drag to fill" hidden></div>
          <div class="gc-note" aria-hidden="true" data-testid="cell-error" hidden></div>
          <div class="gc-colheads" role="row" aria-rowindex="1"></div>
          <div class="gc-rowheads" aria-hidden="true"></div>
          <div class="gc-corner" aria-hidden="true">#</div>
        </div>
        <div class="gc-spacer"></div>
      </div>`;
    const find = (/** @type {string} */ selector) => /** @type {HTMLElement} */ (root.querySelector(selector));
    this.scroller = find(".gc-scroller");
    this.view = find(".gc-view");
    this.body = find(".gc-body");
    this.selectionBox = find(".gc-selection");
    this.presenceLayer = find(".gc-presence");
    this.note = find(".gc-note");
    this.colHeads = find(".gc-colheads");
    this.rowHeads = find(".gc-rowheads");
    this.corner = find(".gc-corner");
    this.spacer = find(".gc-spacer");
    this.frozenEdge = find(".gc-frozen-edge");
    this.fillHandle = find(".gc-fill-handle");
    this.fillPreview = find(".gc-fill-preview");
    // The live region: the active cell when it moves, others' edits of it (outside the grid role).
    this.live = document.createElement("div");
    this.live.className = "visually-hidden";
    this.live.setAttribute("role", "status");
    this.live.setAttribute("aria-live", "polite");
    this.live.dataset.testid = "grid-live";
    root.after(this.live);
    this.scroller.addEventListener("scroll", () => this.schedule(), { passive: true });
    root.addEventListener("keydown", (e) => this.keyDown(e));
  }

  measure() {
    this.viewW = this.scroller.clientWidth;
    this.viewH = this.scroller.clientHeight;
    this.rowHeadW = Math.max(48, 14 + 8 * String(this.model.total ?? 1000).length);
  }

  destroy() {
    this.resizeObserver.disconnect();
    cancelAnimationFrame(this.frame);
    clearTimeout(this.soonTimer);
    this.renderer.destroy();
    this.live.remove();
  }

  // --- geometry ----------------------------------------------------------------------------------

  get total() {
    return this.model.total ?? 0;
  }

  /** The sheet's size for the selection: {rows, cols}. */
  size() {
    return { rows: this.total, cols: this.model.columns.length };
  }

  width(column) {
    return this.widths.width(column);
  }

  columnXs() {
    return columnXs(this.model.columns, (column) => this.width(column));
  }

  /** How many leading columns stay put: the view's frozen ones, as many as leave room to scroll the rest. */
  frozen(xs = this.columnXs()) {
    return frozenThatFit(xs, this.model.frozen, this.viewW, this.rowHeadW);
  }

  /** Whether the first n columns can be frozen and leave room to scroll the others in. */
  canFreeze(n) {
    return frozenThatFit(this.columnXs(), n, this.viewW, this.rowHeadW) === n;
  }

  /** Scroll position -> pixel offset in the sheet's real height. */
  virtualTop() {
    return virtualTop(this.scroller.scrollTop, this.total, this.viewH);
  }

  /** Scroll so that the cell is in view. */
  reveal(r, c) {
    const xs = this.columnXs();
    const to = revealScroll({ r, c, top: this.virtualTop(), left: this.scroller.scrollLeft, viewW: this.viewW, viewH: this.viewH, rowHeadW: this.rowHeadW, xs, frozen: this.frozen(xs) });
    if (to.top !== null) {
      const scrollTop = scrollTopFor(to.top, this.total, this.viewH);
      if (scrollTop !== null) this.scroller.scrollTop = scrollTop;
    }
    if (to.left !== null) this.scroller.scrollLeft = to.left;
  }

  // --- drawing -----------------------------------------------------------------------------------

  schedule() {
    clearTimeout(this.soonTimer);
    this.soonTimer = null;
    if (!this.frame) this.frame = requestAnimationFrame(() => this.render());
  }

  scheduleSoon() {
    if (!this.frame && !this.soonTimer) this.soonTimer = setTimeout(() => this.schedule(), REMOTE_MS);
  }

  render() {
    this.frame = 0;
    this.renderer.render();
  }

  setPresence(people) {
    this.renderer.presence = people;
    this.schedule();
  }

  /** Mark the cells (and rows) that have an open comment thread: a set of comments.cellKey. */
  setComments(marked) {
    this.comments = marked;
    this.schedule();
  }

  // --- selection ---------------------------------------------------------------------------------

  range() {
    return this.selection.range();
  }

  select(r, c, extend = false) {
    this.selection.select(r, c, this.size(), extend);
    this.reveal(this.selection.active.r, this.selection.active.c);
    this.changed();
  }

  /** Highlight the find bar's match ({row: id, col: key}), or none (null). */
  setFound(match) {
    this.found = match;
    this.schedule();
  }

  scrollToRow(index) {
    this.select(index, this.selection.active.c);
  }

  /** The selection changed: tell the page and screen readers, and draw it. */
  changed() {
    this.announce();
    this.say(this.describeActive());
    this.schedule();
  }

  /** "B3, Price, 12": the active cell, for the live region. */
  describeActive() {
    const { r, c } = this.selection.active;
    const column = this.model.columns[c];
    if (!column) return "";
    const row = this.model.rowAt(r);
    const { r0, r1, c0, c1 } = this.selection.range();
    const cell = row ? this.model.cell(row, column.key) : null;
    const text = cell ? displayValue(cell.value, column.type) : null;
    return activeCellText({ r, c, column: column.name, text, rows: r1 - r0 + 1, cols: c1 - c0 + 1, error: cell?.error });
  }

  /** Someone else's edit of the active cell is said in the live region. */
  remoteEdit(op) {
    if (op.kind !== "cells.update") return;
    const { r, c } = this.selection.active;
    const row = this.model.rowAt(r);
    const column = this.model.columns[c];
    const cell = row && column && (op.changes?.cells || []).filter((x) => x.row === row.id && x.col === column.key).at(-1);
    if (!cell) return;
    const who = op.actor == null ? "" : this.options.nameOf?.(op.actor);
    this.say(remoteEditText(who, r, c, displayValue(cell.value, column.type)));
  }

  /** The server refused a value of this cell: its reason shows beside the cell (the live region says it). */
  refused(rowId, col, message) {
    this.refusedCell = { row: rowId, col };
    const i = this.visibleRows.findIndex((row) => row?.id === rowId);
    const c = this.model.columns.findIndex((column) => column.key === col);
    const where = i >= 0 && c >= 0 ? ` in ${cellRef(this.layout.first + i, c)}` : "";
    this.say(`Not saved${where}: ${message}`);
    this.schedule();
  }

  say(text) {
    if (text && this.live.textContent !== text) this.live.textContent = text;
  }

  /** Tell the others (presence) and the page what is selected. */
  announce() {
    const range = this.selection.range();
    const { r0, r1, c0, c1 } = range;
    const columns = this.model.columns;
    const rowA = this.model.rowAt(r0);
    const rowB = this.model.rowAt(r1);
    let selection = null;
    if (rowA && rowB && columns[c0] && columns[c1]) {
      selection = r0 === r1 && c0 === c1
        ? { row: rowA.id, col: columns[c0].key }
        : { rows: [rowA.id, rowB.id], cols: [columns[c0].key, columns[c1].key] };
    }
    this.options.onSelection?.(selection, this.editing.open, range);
  }

  /** The selected rows, loaded (at most 10,000). */
  rangeRows() {
    return this.writes.rows();
  }

  // --- editing -----------------------------------------------------------------------------------

  get readOnly() {
    return this.options.readOnly();
  }

  refuseIfReadOnly() {
    if (!this.readOnly) return false;
    this.options.onMessage?.("You can view this sheet, not edit it.");
    return true;
  }

  startEdit(initial) {
    this.editing.start(initial);
  }

  // --- keys --------------------------------------------------------------------------------------

  keyDown(event) {
    if (this.editing.open) return;
    const { r, c } = this.selection.active;
    const column = this.model.columns[c];
    const todo = keyCommand(event, {
      r,
      c,
      lastR: this.total - 1,
      lastC: this.model.columns.length - 1,
      page: Math.max(1, Math.floor((this.viewH - HEAD_H) / ROW_H) - 1),
      toggles: !!(column && cellEditor(column.type).toggle),
    });
    if (!todo) return;
    if (!("command" in todo && todo.command === "collapse")) event.preventDefault();
    if ("move" in todo) return this.select(todo.move[0], todo.move[1], todo.extend);
    switch (todo.command) {
      case "edit": return this.editing.start();
      case "type": return this.editing.start(todo.text);
      case "collapse": return this.select(r, c);
      case "clear": return this.writes.clear();
      case "fillDown": return this.writes.fillDown();
      case "toggle": return this.writes.toggle();
      case "undo": return this.options.onUndo?.();
      case "redo": return this.options.onRedo?.();
      case "help": return this.options.onHelp?.();
      case "history": return this.options.onHistory?.();
      case "comments": return this.options.onComments?.();
      case "selectAll":
        this.selection.selectAll(this.size());
        return this.changed();
    }
  }
}
