// The grid: only the cells on screen are in the DOM (a pool of divs reused frame after frame),
// drawn at most once per animation frame from the model. The scroll height is capped (browsers
// cap element heights) and mapped onto the sheet's real height, so any of a million rows is a
// scroll away.
import { alignRight, editText, formatValue, typeLabel } from "./format.js";
import { parseTsv, toTsv } from "./clipboard.js";

const ROW_H = 28;
const HEAD_H = 32;
const MAX_SCROLL = 8_000_000;
const FLASH_MS = 900;
const REMOTE_MS = 100;
const MIN_W = 40;

export class Grid {
  constructor(root, model, options) {
    this.root = root;
    this.model = model;
    this.options = options; // readOnly, sheetId, onSelection, onColumnMenu, onUndo, onRedo, onMessage
    this.active = { r: 0, c: 0 };
    this.anchor = { r: 0, c: 0 };
    this.editor = null;
    this.flashes = new Map();
    this.presence = [];
    this.widths = JSON.parse(localStorage.getItem(this.widthsKey) || "{}");
    this.frame = 0;
    this.cellPool = [];
    this.rowHeadPool = [];
    this.colHeadPool = [];
    this.presencePool = [];
    this.build();
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
    model.on("flash", (rowId, col) => this.flash(rowId, col));
    this.schedule();
  }

  get widthsKey() {
    return `gridcast-widths-${this.options.sheetId}`;
  }

  // --- structure ----------------------------------------------------------------------------------

  build() {
    this.root.classList.add("gc-grid");
    this.root.tabIndex = 0;
    this.root.innerHTML = `
      <div class="gc-scroller">
        <div class="gc-view">
          <div class="gc-body"></div>
          <div class="gc-selection"></div>
          <div class="gc-presence"></div>
          <div class="gc-colheads"></div>
          <div class="gc-rowheads"></div>
          <div class="gc-corner">#</div>
        </div>
        <div class="gc-spacer"></div>
      </div>`;
    this.scroller = this.root.querySelector(".gc-scroller");
    this.view = this.root.querySelector(".gc-view");
    this.body = this.root.querySelector(".gc-body");
    this.selectionBox = this.root.querySelector(".gc-selection");
    this.presenceLayer = this.root.querySelector(".gc-presence");
    this.colHeads = this.root.querySelector(".gc-colheads");
    this.rowHeads = this.root.querySelector(".gc-rowheads");
    this.spacer = this.root.querySelector(".gc-spacer");
    this.scroller.addEventListener("scroll", () => this.schedule(), { passive: true });
    this.view.addEventListener("pointerdown", (e) => this.pointerDown(e));
    this.view.addEventListener("dblclick", (e) => this.doubleClick(e));
    this.root.addEventListener("keydown", (e) => this.keyDown(e));
    this.root.addEventListener("copy", (e) => this.copy(e));
    this.root.addEventListener("cut", (e) => this.copy(e, true));
    this.root.addEventListener("paste", (e) => this.paste(e));
  }

  measure() {
    this.viewW = this.scroller.clientWidth;
    this.viewH = this.scroller.clientHeight;
    this.rowHeadW = Math.max(48, 14 + 8 * String(this.model.total ?? 1000).length);
  }

  destroy() {
    this.resizeObserver.disconnect();
    cancelAnimationFrame(this.frame);
  }

  // --- geometry -----------------------------------------------------------------------------------

  width(column) {
    return this.widths[column.key] ?? column.width ?? 140;
  }

  columnXs() {
    const xs = [0];
    for (const column of this.model.columns) xs.push(xs[xs.length - 1] + this.width(column));
    return xs;
  }

  get total() {
    return this.model.total ?? 0;
  }

  get contentH() {
    return this.total * ROW_H + HEAD_H;
  }

  get scrollH() {
    return Math.min(this.contentH, MAX_SCROLL);
  }

  /** Scroll position -> pixel offset in the sheet's real height. */
  virtualTop() {
    const room = this.scrollH - this.viewH;
    if (room <= 0) return 0;
    return (Math.min(this.scroller.scrollTop, room) * (this.contentH - this.viewH)) / room;
  }

  setVirtualTop(top) {
    const room = this.scrollH - this.viewH;
    if (room <= 0) return;
    this.scroller.scrollTop = (top * room) / (this.contentH - this.viewH);
  }

  bodyH() {
    return this.viewH - HEAD_H;
  }

  // --- drawing --------------------------------------------------------------------------------------

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
    const model = this.model;
    const columns = model.columns;
    const xs = this.columnXs();
    const totalW = xs[xs.length - 1];
    this.view.style.width = `${this.viewW}px`;
    this.view.style.height = `${this.viewH}px`;
    this.spacer.style.height = `${Math.max(0, this.scrollH - this.viewH)}px`;
    this.spacer.style.width = `${totalW + this.rowHeadW}px`;

    const top = this.virtualTop();
    const first = Math.floor(top / ROW_H);
    const shiftY = HEAD_H - (top - first * ROW_H);
    const rowCount = Math.min(Math.ceil(this.bodyH() / ROW_H) + 1, Math.max(0, this.total - first));
    const left = this.scroller.scrollLeft;
    let c0 = 0;
    while (c0 < columns.length - 1 && xs[c0 + 1] <= left) c0++;
    let c1 = c0;
    while (c1 < columns.length && xs[c1] < left + this.viewW - this.rowHeadW) c1++;
    this.layout = { first, rowCount, shiftY, left, xs, c0, c1 };
    if (model.total === null) model.rowAt(first); // the first window tells how many rows there are
    model.keepOnly(first, first + rowCount);

    // cells
    const now = performance.now();
    let nextFlash = Infinity;
    let n = 0;
    const rows = [];
    for (let i = 0; i < rowCount; i++) {
      const index = first + i;
      const row = model.rowAt(index);
      rows.push(row);
      const y = shiftY + i * ROW_H;
      for (let c = c0; c < c1; c++) {
        const column = columns[c];
        const div = this.cellDiv(n++);
        const x = this.rowHeadW + xs[c] - left;
        let text = "";
        let cls = "gc-cell";
        let title = "";
        if (row) {
          const cell = model.cell(row, column.key);
          text = formatValue(cell.value, column.type);
          if (cell.error) {
            cls += " error";
            title = cell.error;
          } else if (cell.pending) cls += " pending";
          const until = this.flashes.get(`${row.id}\u0000${column.key}`);
          if (until > now) {
            cls += " flash";
            nextFlash = Math.min(nextFlash, until);
          }
          if (!model.isLoaded(index)) cls += " stale";
        } else {
          cls += " loading";
        }
        if (alignRight(column.type)) cls += " num";
        setIf(div, "className", cls);
        setIf(div, "textContent", text);
        setIf(div, "title", title);
        setStyle(div, "transform", `translate(${x}px,${y}px)`);
        setStyle(div, "width", `${this.width(column)}px`);
      }
    }
    this.hidePool(this.cellPool, n);
    this.visibleRows = rows;

    // row heads
    for (let i = 0; i < rowCount; i++) {
      const div = this.pooled(this.rowHeadPool, i, this.rowHeads, "gc-rowhead");
      setIf(div, "textContent", String(first + i + 1));
      setStyle(div, "transform", `translateY(${shiftY + i * ROW_H}px)`);
      setIf(div, "className", this.inRows(first + i) ? "gc-rowhead sel" : "gc-rowhead");
    }
    this.hidePool(this.rowHeadPool, rowCount);
    this.rowHeads.style.width = this.colHeads.style.left = `${this.rowHeadW}px`;
    this.root.querySelector(".gc-corner").style.width = `${this.rowHeadW}px`;

    // column heads
    let h = 0;
    for (let c = c0; c < c1; c++) {
      const column = columns[c];
      const div = this.pooled(this.colHeadPool, h++, this.colHeads, "gc-colhead");
      if (div._key !== column.key || div._name !== column.name || div._type !== column.type) {
        div._key = column.key;
        div._name = column.name;
        div._type = column.type;
        div.dataset.col = column.key;
        div.innerHTML = "";
        const type = el("span", "gc-type", typeLabel(column.type));
        type.title = column.type;
        const name = el("span", "gc-name", column.name);
        const sort = el("span", "gc-sort", "");
        const menu = el("button", "gc-menu", "▾");
        menu.type = "button";
        menu.title = "Column menu";
        menu.tabIndex = -1;
        const grip = el("span", "gc-resize", "");
        div.append(type, name, sort, menu, grip);
      }
      const sortKey = this.model.view.sort;
      div.querySelector(".gc-sort").textContent =
        sortKey === column.key ? "↑" : sortKey === `-${column.key}` ? "↓" : this.model.view.filters.some((f) => f[0] === column.key) ? "⚲" : "";
      setStyle(div, "transform", `translateX(${xs[c] - left}px)`);
      setStyle(div, "width", `${this.width(column)}px`);
      setIf(div, "className", this.inCols(c) ? "gc-colhead sel" : "gc-colhead");
    }
    this.hidePool(this.colHeadPool, h);

    this.drawSelection();
    this.drawPresence();
    this.placeEditor();
    if (nextFlash < Infinity && !this.flashTimer) {
      this.flashTimer = setTimeout(() => {
        this.flashTimer = null;
        this.scheduleSoon();
      }, nextFlash - now + 5);
    }
  }

  cellDiv(i) {
    return this.pooled(this.cellPool, i, this.body, "gc-cell");
  }

  pooled(pool, i, parent, cls) {
    let div = pool[i];
    if (!div) {
      div = document.createElement("div");
      div.className = cls;
      parent.appendChild(div);
      pool.push(div);
    }
    if (div.hidden) div.hidden = false;
    return div;
  }

  hidePool(pool, from) {
    for (let i = from; i < pool.length; i++) if (!pool[i].hidden) pool[i].hidden = true;
  }

  /** The on-screen rectangle (in view coordinates) of rows r0..r1 and columns c0..c1, clipped. */
  rect(r0, r1, c0, c1) {
    const { first, rowCount, shiftY, left, xs } = this.layout;
    const top = shiftY + (Math.max(r0, first - 1) - first) * ROW_H;
    const bottom = shiftY + (Math.min(r1, first + rowCount) - first + 1) * ROW_H;
    if (r1 < first || r0 > first + rowCount || !xs[c1 + 1]) return null;
    const x0 = this.rowHeadW + xs[c0] - left;
    const x1 = this.rowHeadW + xs[c1 + 1] - left;
    return { x: x0, y: top, w: x1 - x0, h: bottom - top };
  }

  drawSelection() {
    const { r0, r1, c0, c1 } = this.range();
    const box = this.model.columns.length && this.total ? this.rect(r0, r1, c0, c1) : null;
    place(this.selectionBox, box);
  }

  drawPresence() {
    let n = 0;
    const rows = this.visibleRows || [];
    for (const person of this.presence) {
      const s = person.selection;
      if (!s) continue;
      const rowIds = s.rows ?? [s.row, s.row];
      const cols = s.cols ?? [s.col, s.col];
      const r0 = rows.findIndex((row) => row?.id === rowIds[0]);
      const r1 = rows.findIndex((row) => row?.id === rowIds[1]);
      const c0 = this.model.columns.findIndex((c) => c.key === cols[0]);
      const c1 = this.model.columns.findIndex((c) => c.key === cols[1]);
      if ((r0 < 0 && r1 < 0) || c0 < 0 || c1 < 0) continue;
      const first = this.layout.first;
      const box = this.rect(first + (r0 < 0 ? 0 : r0), first + (r1 < 0 ? rows.length - 1 : r1), Math.min(c0, c1), Math.max(c0, c1));
      if (!box) continue;
      const div = this.pooled(this.presencePool, n++, this.presenceLayer, "gc-peer");
      if (div._who !== person.connection) {
        div._who = person.connection;
        div.innerHTML = "";
        div.append(el("span", "gc-peer-name", person.name));
        div.dataset.connection = person.connection;
      }
      div.style.setProperty("--peer", person.colour);
      div.classList.toggle("editing", !!person.editing);
      place(div, box);
    }
    this.hidePool(this.presencePool, n);
  }

  setPresence(people) {
    this.presence = people;
    this.schedule();
  }

  /** Highlight a cell someone else changed. A cell already highlighted keeps its expiry, so a
   * burst of edits costs one class change per cell, not one per edit. */
  flash(rowId, col) {
    const key = `${rowId}\u0000${col}`;
    const now = performance.now();
    if (this.flashes.get(key) > now) return;
    this.flashes.set(key, now + FLASH_MS);
    if (this.flashes.size > 5000) {
      for (const [old, until] of this.flashes) if (until < now) this.flashes.delete(old);
    }
    this.scheduleSoon();
  }

  // --- selection --------------------------------------------------------------------------------------

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

  select(r, c, extend = false) {
    const maxR = Math.max(0, this.total - 1);
    const maxC = Math.max(0, this.model.columns.length - 1);
    this.active = { r: clamp(r, 0, maxR), c: clamp(c, 0, maxC) };
    if (!extend) this.anchor = { ...this.active };
    this.reveal(this.active.r, this.active.c);
    this.announce();
    this.schedule();
  }

  /** Tell the others (presence) and the page what is selected. */
  announce() {
    const { r0, r1, c0, c1 } = this.range();
    const columns = this.model.columns;
    const rowA = this.model.rowAt(r0);
    const rowB = this.model.rowAt(r1);
    let selection = null;
    if (rowA && rowB && columns[c0] && columns[c1]) {
      selection = r0 === r1 && c0 === c1
        ? { row: rowA.id, col: columns[c0].key }
        : { rows: [rowA.id, rowB.id], cols: [columns[c0].key, columns[c1].key] };
    }
    this.options.onSelection?.(selection, !!this.editor, this.range());
  }

  /** Scroll so that the cell is in view. */
  reveal(r, c) {
    const top = this.virtualTop();
    const y = r * ROW_H;
    const visible = this.bodyH() - ROW_H;
    if (y < top) this.setVirtualTop(y);
    else if (y > top + visible) this.setVirtualTop(y - visible);
    const xs = this.columnXs();
    const left = this.scroller.scrollLeft;
    const room = this.viewW - this.rowHeadW;
    if (xs[c] < left) this.scroller.scrollLeft = xs[c];
    else if (xs[c + 1] > left + room) this.scroller.scrollLeft = xs[c + 1] - room;
  }

  scrollToRow(index) {
    this.select(index, this.active.c);
  }

  /** The cell under a pointer event: {r, c} (r -1: the column heads; c -1: the row heads). */
  hit(event) {
    const box = this.view.getBoundingClientRect();
    const x = event.clientX - box.left;
    const y = event.clientY - box.top;
    const { first, shiftY, left, xs } = this.layout;
    const r = y < HEAD_H ? -1 : first + Math.floor((y - shiftY) / ROW_H);
    let c = -1;
    if (x >= this.rowHeadW) {
      const cx = x - this.rowHeadW + left;
      c = xs.findIndex((edge, i) => i > 0 && cx < edge) - 1;
      if (c < -1) c = this.model.columns.length - 1;
    }
    return { r, c, x, y };
  }

  pointerDown(event) {
    if (event.button !== 0) return;
    const target = event.target;
    if (target.classList.contains("gc-resize")) return this.startResize(event, target.parentElement.dataset.col);
    if (target.classList.contains("gc-menu")) {
      const key = target.parentElement.dataset.col;
      event.preventDefault();
      this.options.onColumnMenu?.(this.model.column(key), target.getBoundingClientRect());
      return;
    }
    if (this.editor && target === this.editor) return;
    const { r, c } = this.hit(event);
    if (this.editor) this.commitEdit();
    if (this.total === 0 && r >= 0) return;
    const wasActive = r === this.active.r && c === this.active.c;
    if (r === -1 && c >= 0) {
      // a column head: the whole column
      this.anchor = { r: 0, c: event.shiftKey ? this.anchor.c : c };
      this.active = { r: Math.max(0, this.total - 1), c };
      this.announce();
      this.schedule();
    } else if (c === -1 && r >= 0) {
      // a row head: the whole row
      this.anchor = { r: event.shiftKey ? this.anchor.r : r, c: 0 };
      this.active = { r, c: Math.max(0, this.model.columns.length - 1) };
      this.announce();
      this.schedule();
    } else if (r >= 0 && c >= 0) {
      this.select(r, c, event.shiftKey);
      if (wasActive && event.pointerType === "touch") this.startEdit();
      if (event.pointerType !== "touch") this.dragSelect(event);
    }
    event.preventDefault();
    this.root.focus({ preventScroll: true });
  }

  dragSelect(event) {
    const move = (e) => {
      const { r, c } = this.hit(e);
      if (r >= 0 && c >= 0 && (r !== this.active.r || c !== this.active.c)) {
        this.active = { r: clamp(r, 0, this.total - 1), c };
        this.announce();
        this.schedule();
      }
    };
    const up = () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  }

  startResize(event, key) {
    event.preventDefault();
    const column = this.model.column(key);
    const startX = event.clientX;
    const startW = this.width(column);
    const move = (e) => {
      this.widths[key] = Math.max(MIN_W, Math.round(startW + e.clientX - startX));
      this.schedule();
    };
    const up = () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      localStorage.setItem(this.widthsKey, JSON.stringify(this.widths));
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  }

  doubleClick(event) {
    const { r, c } = this.hit(event);
    if (r >= 0 && c >= 0) this.startEdit();
  }

  // --- editing ------------------------------------------------------------------------------------------

  get readOnly() {
    return this.options.readOnly();
  }

  refuseIfReadOnly() {
    if (!this.readOnly) return false;
    this.options.onMessage?.("You can view this sheet, not edit it.");
    return true;
  }

  startEdit(initial) {
    if (this.refuseIfReadOnly()) return;
    const row = this.model.rowAt(this.active.r);
    const column = this.model.columns[this.active.c];
    if (!row || !column) return;
    this.reveal(this.active.r, this.active.c);
    const input = document.createElement("input");
    input.className = "gc-editor";
    input.setAttribute("aria-label", `Edit ${column.name}`);
    const current = this.model.cell(row, column.key);
    input.value = initial ?? editText(current.value, column.type);
    if (column.type === "choice" && column.options?.choices) {
      const list = document.createElement("datalist");
      list.id = `gc-choices-${column.key}`;
      for (const choice of column.options.choices) list.append(new Option(choice));
      this.view.append(list);
      input.setAttribute("list", list.id);
      this.choiceList = list;
    }
    this.editor = input;
    this.editing = { rowId: row.id, col: column.key, original: input.value, fresh: initial !== undefined };
    input.addEventListener("keydown", (e) => this.editorKey(e));
    input.addEventListener("blur", () => this.editor === input && this.commitEdit());
    this.view.append(input);
    this.placeEditor();
    input.focus();
    if (initial === undefined) input.select();
    else input.setSelectionRange(input.value.length, input.value.length);
    this.announce();
  }

  placeEditor() {
    if (!this.editor || !this.layout) return;
    const box = this.rect(this.active.r, this.active.r, this.active.c, this.active.c);
    place(this.editor, box);
  }

  editorKey(event) {
    event.stopPropagation();
    if (event.key === "Enter") {
      event.preventDefault();
      this.commitEdit();
      this.select(this.active.r + (event.shiftKey ? -1 : 1), this.active.c);
    } else if (event.key === "Tab") {
      event.preventDefault();
      this.commitEdit();
      this.select(this.active.r, this.active.c + (event.shiftKey ? -1 : 1));
    } else if (event.key === "Escape") {
      event.preventDefault();
      this.closeEditor();
    }
  }

  commitEdit() {
    if (!this.editor) return;
    const { rowId, col, original } = this.editing;
    const value = this.editor.value;
    this.closeEditor();
    if (value !== original) this.model.setCells([{ row: rowId, col, value }], this.options.maxBatchCells);
  }

  closeEditor() {
    const input = this.editor;
    this.editor = null;
    this.editing = null;
    input?.remove();
    this.choiceList?.remove();
    this.choiceList = null;
    this.root.focus({ preventScroll: true });
    this.announce();
    this.schedule();
  }

  // --- keys -----------------------------------------------------------------------------------------------

  keyDown(event) {
    if (this.editor) return;
    const ctrl = event.ctrlKey || event.metaKey;
    const { r, c } = this.active;
    const page = Math.max(1, Math.floor(this.bodyH() / ROW_H) - 1);
    const lastR = this.total - 1;
    const lastC = this.model.columns.length - 1;
    const key = event.key;
    const moves = {
      ArrowUp: [ctrl ? 0 : r - 1, c],
      ArrowDown: [ctrl ? lastR : r + 1, c],
      ArrowLeft: [r, ctrl ? 0 : c - 1],
      ArrowRight: [r, ctrl ? lastC : c + 1],
      PageUp: [r - page, c],
      PageDown: [r + page, c],
      Home: [ctrl ? 0 : r, 0],
      End: [ctrl ? lastR : r, lastC],
    };
    if (moves[key]) {
      event.preventDefault();
      this.select(...moves[key], event.shiftKey);
    } else if (key === "Tab") {
      event.preventDefault();
      this.select(r, c + (event.shiftKey ? -1 : 1));
    } else if (key === "Enter" || key === "F2") {
      event.preventDefault();
      this.startEdit();
    } else if (key === "Escape") {
      this.select(r, c);
    } else if (key === "Delete" || key === "Backspace") {
      event.preventDefault();
      this.clearRange();
    } else if (ctrl && (key === "z" || key === "Z")) {
      event.preventDefault();
      if (event.shiftKey) this.options.onRedo?.();
      else this.options.onUndo?.();
    } else if (ctrl && (key === "y" || key === "Y")) {
      event.preventDefault();
      this.options.onRedo?.();
    } else if (ctrl && (key === "d" || key === "D")) {
      event.preventDefault();
      this.fillDown();
    } else if (ctrl && (key === "a" || key === "A")) {
      event.preventDefault();
      this.anchor = { r: 0, c: 0 };
      this.active = { r: lastR, c: lastC };
      this.announce();
      this.schedule();
    } else if (key === " " && this.model.columns[c]?.type === "boolean") {
      event.preventDefault();
      this.toggleBoolean();
    } else if (key.length === 1 && !ctrl && !event.altKey) {
      event.preventDefault();
      this.startEdit(key);
    }
  }

  toggleBoolean() {
    if (this.refuseIfReadOnly()) return;
    const row = this.model.rowAt(this.active.r);
    const column = this.model.columns[this.active.c];
    if (!row) return;
    const value = this.model.cell(row, column.key).value;
    this.model.setCells([{ row: row.id, col: column.key, value: value === true ? "false" : "true" }]);
  }

  async rangeRows() {
    const { r0, r1 } = this.range();
    if (r1 - r0 + 1 > 10_000) throw new Error("Select at most 10,000 rows for this.");
    return this.model.rowsFrom(r0, r1 - r0 + 1);
  }

  async clearRange() {
    if (this.refuseIfReadOnly()) return;
    try {
      const { c0, c1 } = this.range();
      const rows = await this.rangeRows();
      const keys = this.model.columns.slice(c0, c1 + 1).map((c) => c.key);
      const cells = rows.filter(Boolean).flatMap((row) => keys.map((col) => ({ row: row.id, col, value: null })));
      if (cells.length) this.model.setCells(cells, this.options.maxBatchCells);
    } catch (error) {
      this.options.onMessage?.(error.message);
    }
  }

  async fillDown() {
    if (this.refuseIfReadOnly()) return;
    try {
      const { c0, c1 } = this.range();
      const rows = (await this.rangeRows()).filter(Boolean);
      if (rows.length < 2) return;
      const keys = this.model.columns.slice(c0, c1 + 1).map((c) => c.key);
      const source = rows[0];
      const cells = rows.slice(1).flatMap((row) =>
        keys.map((col) => ({ row: row.id, col, value: editText(this.model.cell(source, col).value, this.model.column(col).type) })),
      );
      this.model.setCells(cells, this.options.maxBatchCells);
    } catch (error) {
      this.options.onMessage?.(error.message);
    }
  }

  // --- clipboard ----------------------------------------------------------------------------------------

  rangeText(rows) {
    const { c0, c1 } = this.range();
    const columns = this.model.columns.slice(c0, c1 + 1);
    return toTsv(rows.map((row) => columns.map((column) => editText(row ? this.model.cell(row, column.key).value : null, column.type))));
  }

  copy(event, cut = false) {
    if (this.editor) return;
    event.preventDefault();
    const { r0, r1 } = this.range();
    const rows = [];
    let loaded = true;
    for (let r = r0; r <= r1 && loaded; r++) {
      loaded = this.model.isLoaded(r);
      rows.push(this.model.rowAt(r));
    }
    if (loaded) event.clipboardData.setData("text/plain", this.rangeText(rows));
    else this.rangeRows().then((all) => navigator.clipboard.writeText(this.rangeText(all))).catch((e) => this.options.onMessage?.(e.message));
    if (cut) this.clearRange();
  }

  async paste(event) {
    if (this.editor) return;
    event.preventDefault();
    if (this.refuseIfReadOnly()) return;
    const block = parseTsv(event.clipboardData.getData("text/plain"));
    if (!block.length) return;
    try {
      await this.pasteBlock(block);
    } catch (error) {
      this.options.onMessage?.(error.message);
    }
  }

  /** Put a block of values at the active cell; rows past the end of the sheet are added. */
  async pasteBlock(block) {
    const { r, c } = this.active;
    const columns = this.model.columns.slice(c, c + Math.max(...block.map((line) => line.length)));
    if (block.length > 10_000) throw new Error("Paste at most 10,000 rows at once.");
    const existing = (await this.model.rowsFrom(r, block.length)).filter(Boolean);
    const cells = [];
    existing.forEach((row, i) => block[i].forEach((value, j) => columns[j] && cells.push({ row: row.id, col: columns[j].key, value })));
    if (cells.length) this.model.setCells(cells, this.options.maxBatchCells);
    const extra = block.slice(existing.length).map((line) => Object.fromEntries(line.map((v, j) => [columns[j]?.key, v]).filter(([k, v]) => k && v !== "")));
    if (extra.length) {
      if (this.model.view.filters.length || this.model.view.sort) throw new Error("Clear the sort and filter to paste past the last row.");
      this.model.write({ type: "insert_rows", rows: extra });
    }
    this.anchor = { r, c };
    this.active = { r: r + block.length - 1, c: c + columns.length - 1 };
    this.announce();
    this.schedule();
  }
}

function clamp(v, lo, hi) {
  return Math.max(lo, Math.min(hi, v));
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  node.className = cls;
  node.textContent = text;
  return node;
}

function setIf(node, prop, value) {
  if (node[prop] !== value) node[prop] = value;
}

function setStyle(node, prop, value) {
  if (node.style[prop] !== value) node.style[prop] = value;
}

function place(node, box) {
  if (!box) {
    node.hidden = true;
    return;
  }
  node.hidden = false;
  node.style.transform = `translate(${box.x}px,${box.y}px)`;
  node.style.width = `${box.w}px`;
  node.style.height = `${box.h}px`;
}

export const GRID_ROW_HEIGHT = ROW_H;
