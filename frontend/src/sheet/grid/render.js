// Drawing one frame: only the cells on screen are in the DOM (pools of divs reused frame after
// frame), with the row and column heads, the selection box, the others' selections (presence)
// and the flash of cells someone else changed. The frozen leading columns are drawn first, at
// fixed x and above the scrolled ones, with a divider at their right edge. The cells are ARIA grid cells in rows (role=row,
// aria-rowindex in the whole sheet): the active one carries the id the grid's
// aria-activedescendant points to, so focus stays on the grid while the cells are reused.
import { icon, alignOfColumn, isComputed } from "../../lib/columnTypes.js";
import { displayValue } from "./editors.js";
import { ROW_H, columnBoxes, columnX, drawnColumns, rangeRect, scrollHeight, visibleWindow } from "./geometry.js";
import { Pool, el, place, setAttr, setIf, setStyle } from "./dom.js";
import { cellKey } from "../comments.js";

const FLASH_MS = 900;

export class Renderer {
  /** @param {import("./index.js").Grid} grid */
  constructor(grid) {
    this.grid = grid;
    this.rows = new Pool(grid.body, "gc-row");
    /** @type {Pool[]} the cells of each row div */
    this.rowCells = [];
    this.rowHeads = new Pool(grid.rowHeads, "gc-rowhead");
    this.colHeads = new Pool(grid.colHeads, "gc-colhead");
    this.peers = new Pool(grid.presenceLayer, "gc-peer");
    this.flashes = new Map(); // row id + column key -> until (performance.now())
    this.flashTimer = null;
    this.presence = [];
    /** @type {(() => any) | null} while the fill handle is dragged: what it would fill */
    this.fillTarget = null;
  }

  render() {
    const grid = this.grid;
    const model = grid.model;
    const columns = model.columns;
    const xs = grid.columnXs();
    const totalW = xs[xs.length - 1];
    const { viewW, viewH, rowHeadW } = grid;
    grid.view.style.width = `${viewW}px`;
    grid.view.style.height = `${viewH}px`;
    grid.spacer.style.height = `${Math.max(0, scrollHeight(grid.total) - viewH)}px`;
    grid.spacer.style.width = `${totalW + rowHeadW}px`;

    const layout = visibleWindow({ top: grid.virtualTop(), left: grid.scroller.scrollLeft, total: grid.total, viewW, viewH, rowHeadW, xs, frozen: grid.frozen(xs) });
    const { first, rowCount, shiftY, left, frozen } = layout;
    grid.layout = layout;
    const drawn = drawnColumns(layout);
    if (model.total === null) model.rowAt(first); // the first window tells how many rows there are
    model.keepOnly(first, first + rowCount);

    // cells
    const now = performance.now();
    let nextFlash = Infinity;
    const rows = [];
    const selection = grid.selection;
    const sel = selection.range();
    const readOnly = grid.readOnly;
    let active = null;
    const found = grid.found;
    const flashing = this.flashes.size > 0;
    const commented = grid.comments?.size > 0;
    // What depends on the column alone is worked out once a frame, not once a cell.
    const cols = drawn.map((c) => {
      const column = columns[c];
      const computed = isComputed(column.type);
      return {
        c,
        key: column.key,
        type: column.type,
        colIndex: String(c + 1),
        readOnly: readOnly || computed ? "true" : null,
        cls: c < frozen ? "gc-cell frozen" : "gc-cell",
        tail: `${alignOfColumn(column) === "right" ? " num" : ""}${computed ? " computed" : ""}`,
        title: computed ? `= ${column.options?.formula ?? ""}` : "",
        left: `${columnX(layout, rowHeadW, c)}px`,
        width: `${grid.width(column)}px`,
      };
    });
    for (let i = 0; i < rowCount; i++) {
      const index = first + i;
      const row = model.rowAt(index);
      rows.push(row);
      const rowDiv = this.rows.get(i);
      // The row div moves (a transform); its cells keep their x (`left`, no transform of their own).
      // A jump restyles one div a row, not every cell, and the compositor has a transform a row
      // to update, not one a cell.
      setStyle(rowDiv, "transform", `translateY(${shiftY + i * ROW_H}px)`);
      setAttr(rowDiv, "role", "row");
      setAttr(rowDiv, "aria-rowindex", String(index + 2)); // the column heads are row 1
      const cells = (this.rowCells[i] ??= new Pool(rowDiv, "gc-cell"));
      const loaded = !!row && model.isLoaded(index);
      const inRows = index >= sel.r0 && index <= sel.r1;
      let n = 0;
      for (const col of cols) {
        const c = col.c;
        const div = cells.get(n++);
        const isActive = !!row && selection.isActive(index, c);
        if (isActive) active = div;
        setIf(div, "id", isActive ? grid.activeId : "");
        setAttr(div, "role", "gridcell");
        setAttr(div, "aria-colindex", col.colIndex);
        setAttr(div, "aria-selected", inRows && c >= sel.c0 && c <= sel.c1 ? "true" : "false");
        setAttr(div, "aria-readonly", col.readOnly);
        let text = "";
        let cls = col.cls;
        let title = "";
        let invalid = null;
        if (row) {
          const cell = model.cell(row, col.key);
          text = displayValue(cell.value, col.type);
          if (cell.error) {
            cls += " error";
            title = cell.error;
            invalid = "true";
          } else if (cell.pending) cls += " pending";
          else if (cell.recomputing) {
            cls += " pending";
            title = "Being recomputed: the new value comes in a moment";
          }
          const until = flashing ? this.flashes.get(`${row.id}\u0000${col.key}`) : undefined;
          if (until > now) {
            cls += " flash";
            nextFlash = Math.min(nextFlash, until);
          }
          if (!loaded) cls += " stale";
          if (row.id === found?.row && col.key === found.col) cls += " found";
          if (commented && grid.comments.has(cellKey(row.id, col.key))) {
            cls += " commented";
            if (!title) title = "Has comments (Ctrl+Alt+M)";
          }
        } else {
          cls += " loading";
        }
        setAttr(div, "aria-invalid", invalid);
        setIf(div, "className", cls + col.tail);
        setIf(div, "textContent", text);
        setIf(div, "title", title || col.title);
        setStyle(div, "left", col.left);
        setStyle(div, "width", col.width);
      }
      cells.hideFrom(n);
    }
    for (let i = rowCount; i < this.rowCells.length; i++) this.rowCells[i].hideFrom(0);
    this.rows.hideFrom(rowCount);
    setAttr(grid.root, "aria-activedescendant", active ? grid.activeId : null);
    setAttr(grid.root, "aria-rowcount", String(grid.total + 1)); // the whole sheet, not the window
    setAttr(grid.root, "aria-colcount", String(columns.length));
    grid.visibleRows = rows;

    // row heads
    for (let i = 0; i < rowCount; i++) {
      const div = this.rowHeads.get(i);
      setIf(div, "textContent", String(first + i + 1));
      setStyle(div, "transform", `translateY(${shiftY + i * ROW_H}px)`);
      const commented = rows[i] && grid.comments?.has(cellKey(rows[i].id, "")) ? " commented" : "";
      setIf(div, "className", (grid.selection.inRows(first + i) ? "gc-rowhead sel" : "gc-rowhead") + commented);
    }
    this.rowHeads.hideFrom(rowCount);
    grid.rowHeads.style.width = grid.colHeads.style.left = `${rowHeadW}px`;
    grid.corner.style.width = `${rowHeadW}px`;

    // column heads
    let h = 0;
    for (const c of drawn) {
      const column = columns[c];
      const div = this.colHeads.get(h++);
      if (div._key !== column.key || div._name !== column.name || div._type !== column.type || div._formula !== column.options?.formula) {
        div._key = column.key;
        div._formula = column.options?.formula;
        div._name = column.name;
        div._type = column.type;
        div.dataset.col = column.key;
        div.innerHTML = "";
        const type = el("span", "gc-type", icon(column.type));
        type.title = isComputed(column.type) ? `formula: = ${column.options?.formula ?? ""}` : column.type;
        const name = el("span", "gc-name", column.name);
        const sort = el("span", "gc-sort", "");
        const menu = el("button", "gc-menu", "▾");
        menu.type = "button";
        menu.title = "Column menu";
        menu.setAttribute("aria-label", `Column menu of ${column.name}`);
        menu.tabIndex = -1;
        const grip = el("span", "gc-resize", "");
        div.append(type, name, sort, menu, grip);
      }
      const sortKey = model.view.sort;
      setAttr(div, "role", "columnheader");
      setAttr(div, "aria-colindex", String(c + 1));
      setAttr(div, "aria-sort", sortKey === column.key ? "ascending" : sortKey === `-${column.key}` ? "descending" : null);
      div.querySelector(".gc-sort").textContent =
        sortKey === column.key ? "↑" : sortKey === `-${column.key}` ? "↓" : model.view.filters.some((f) => f[0] === column.key) ? "⚲" : "";
      setStyle(div, "transform", `translateX(${columnX(layout, 0, c)}px)`);
      setStyle(div, "width", `${grid.width(column)}px`);
      setIf(div, "className", `gc-colhead${grid.selection.inCols(c) ? " sel" : ""}${c < frozen ? " frozen" : ""}`);
    }
    this.colHeads.hideFrom(h);
    grid.frozenEdge.hidden = !frozen;
    setStyle(grid.frozenEdge, "transform", `translateX(${rowHeadW + xs[frozen] - 1}px)`);
    grid.frozenEdge.classList.toggle("scrolled", left > 0);
    grid.options.onColumns?.(columnBoxes(layout, rowHeadW).map((box) => ({ ...box, column: columns[box.c] })), { rowHeadW, viewW, frozenW: xs[frozen] });

    this.drawSelection();
    this.drawPresence();
    this.drawNote();
    grid.editing.place();
    if (nextFlash < Infinity && !this.flashTimer) {
      this.flashTimer = setTimeout(() => {
        this.flashTimer = null;
        grid.scheduleSoon();
      }, nextFlash - now + 5);
    }
  }

  /** The on-screen rectangle of rows r0..r1 and columns c0..c1, or null. */
  rect(r0, r1, c0, c1) {
    return rangeRect(this.grid.layout, this.grid.rowHeadW, r0, r1, c0, c1);
  }

  drawSelection() {
    const grid = this.grid;
    const { r0, r1, c0, c1 } = grid.selection.range();
    const box = grid.model.columns.length && grid.total ? this.rect(r0, r1, c0, c1) : null;
    place(grid.selectionBox, box);
    // The fill handle sits on the range's bottom-right corner, when that corner is on screen.
    const corner = box && !grid.readOnly && r1 < grid.layout.first + grid.layout.rowCount ? this.rect(r1, r1, c1, c1) : null;
    const handle = corner && corner.y + corner.h <= grid.viewH && corner.x + corner.w <= grid.viewW ? corner : null;
    place(grid.fillHandle, handle && { x: handle.x + handle.w - 4, y: handle.y + handle.h - 4, w: 8, h: 8 });
    const target = this.fillTarget?.();
    if (this.fillTarget) place(grid.fillPreview, target && this.rect(target.r0, target.r1, target.c0, target.c1));
  }

  /** The reason the server refused a value, beside its cell: the active cell's, else the last refused. */
  drawNote() {
    const grid = this.grid;
    const { model, layout } = grid;
    const rows = grid.visibleRows;
    const { r, c } = grid.selection.active;
    const at = (i, col) => {
      const row = rows[i - layout.first];
      const error = row && col >= 0 && model.columns[col] ? model.cell(row, model.columns[col].key).error : null;
      return error ? { r: i, c: col, error } : null;
    };
    const refused = grid.refusedCell;
    let note = at(r, c);
    if (!note && refused) {
      note = at(layout.first + rows.findIndex((row) => row?.id === refused.row), model.columns.findIndex((col) => col.key === refused.col));
    }
    const box = note && this.rect(note.r, note.r, note.c, note.c);
    if (!box) {
      grid.note.hidden = true;
      return;
    }
    setIf(grid.note, "textContent", note.error);
    grid.note.hidden = false;
    setStyle(grid.note, "transform", `translate(${box.x}px,${box.y + box.h}px)`);
    setStyle(grid.note, "minWidth", `${box.w}px`);
  }

  drawPresence() {
    const grid = this.grid;
    let n = 0;
    const rows = grid.visibleRows || [];
    const columns = grid.model.columns;
    for (const person of this.presence) {
      const s = person.selection;
      if (!s) continue;
      const rowIds = s.rows ?? [s.row, s.row];
      const cols = s.cols ?? [s.col, s.col];
      const r0 = rows.findIndex((row) => row?.id === rowIds[0]);
      const r1 = rows.findIndex((row) => row?.id === rowIds[1]);
      const c0 = columns.findIndex((c) => c.key === cols[0]);
      const c1 = columns.findIndex((c) => c.key === cols[1]);
      if ((r0 < 0 && r1 < 0) || c0 < 0 || c1 < 0) continue;
      const first = grid.layout.first;
      const box = this.rect(first + (r0 < 0 ? 0 : r0), first + (r1 < 0 ? rows.length - 1 : r1), Math.min(c0, c1), Math.max(c0, c1));
      if (!box) continue;
      const div = this.peers.get(n++);
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
    this.peers.hideFrom(n);
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
    this.grid.scheduleSoon();
  }

  destroy() {
    clearTimeout(this.flashTimer);
  }
}
