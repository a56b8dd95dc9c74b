// The pointer on the grid: a click selects a cell (a head: its whole row or column; with Shift:
// up to it), a drag stretches the selection, a double click or a second tap edits, and a head's
// grip and menu button resize and open the column menu; the fill handle's drag fills the cells
// below or right of the selection.
import { fillTarget } from "../fill.js";
import { place } from "./dom.js";
import { cellAt } from "./geometry.js";

export class Pointer {
  /** @param {import("./index.js").Grid} grid */
  constructor(grid) {
    this.grid = grid;
    grid.view.addEventListener("pointerdown", (e) => this.down(e));
    grid.view.addEventListener("dblclick", (e) => this.doubleClick(e));
  }

  /** The cell under a pointer event: {r, c} (r -1: the column heads; c -1: the row heads). */
  hit(event) {
    const box = this.grid.view.getBoundingClientRect();
    return cellAt(this.grid.layout, this.grid.rowHeadW, event.clientX - box.left, event.clientY - box.top);
  }

  down(event) {
    const grid = this.grid;
    if (event.button !== 0) return;
    const target = event.target;
    if (target.classList.contains("gc-resize")) return grid.widths.startResize(event, grid.model.column(target.parentElement.dataset.col));
    if (target.classList.contains("gc-menu")) {
      event.preventDefault();
      grid.options.onColumnMenu?.(grid.model.column(target.parentElement.dataset.col), target.getBoundingClientRect());
      return;
    }
    if (grid.editing.open && target === grid.editing.input) return;
    if (target === grid.fillHandle) {
      event.preventDefault();
      return this.fillDrag();
    }
    const { r, c } = this.hit(event);
    if (grid.editing.open) grid.editing.commit();
    if (grid.total === 0 && r >= 0) return;
    const size = grid.size();
    const wasActive = grid.selection.isActive(r, c);
    if (r === -1 && c >= 0) {
      grid.selection.selectColumn(c, size, event.shiftKey);
      grid.changed();
    } else if (c === -1 && r >= 0) {
      grid.selection.selectRow(r, size, event.shiftKey);
      grid.changed();
    } else if (r >= 0 && c >= 0) {
      grid.select(r, c, event.shiftKey);
      if (wasActive && event.pointerType === "touch") grid.editing.start();
      if (event.pointerType !== "touch") this.drag();
    }
    event.preventDefault();
    grid.root.focus({ preventScroll: true });
  }

  /** Stretch the selection to the cell under the pointer until it is let go. */
  drag() {
    const grid = this.grid;
    const move = (e) => {
      const { r, c } = this.hit(e);
      if (r >= 0 && c >= 0 && !grid.selection.isActive(r, c)) {
        grid.selection.dragTo(r, c, grid.size());
        grid.changed();
      }
    };
    const up = () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  }

  /** Drag the fill handle: a dashed box shows what will be filled; letting go fills it (Ctrl held:
   * swap series and copy), Escape cancels. */
  fillDrag() {
    const grid = this.grid;
    if (grid.editing.open) grid.editing.commit();
    const source = grid.selection.range();
    let target = null;
    let toggle = false;
    const move = (e) => {
      toggle = e.ctrlKey || e.metaKey;
      const { r, c } = this.hit(e);
      target = fillTarget(source, Math.min(r, grid.total - 1), Math.min(c, grid.model.columns.length - 1));
      if (target) grid.reveal(target.r1, target.c1);
      place(grid.fillPreview, target && grid.renderer.rect(target.r0, target.r1, target.c0, target.c1));
    };
    const stop = () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      window.removeEventListener("keydown", escape, true);
      grid.renderer.fillTarget = null;
      place(grid.fillPreview, null);
    };
    const escape = (e) => {
      if (e.key !== "Escape") return;
      e.preventDefault();
      e.stopPropagation();
      stop();
    };
    const up = async (e) => {
      stop();
      if (!target) return;
      const filled = await grid.writes.fill(source, target, { toggle: toggle || e.ctrlKey || e.metaKey });
      if (!filled) return;
      const r1 = Math.max(source.r1, target.r1);
      const c1 = Math.max(source.c1, target.c1);
      grid.selection.selectBlock(source.r0, source.c0, r1 - source.r0 + 1, c1 - source.c0 + 1);
      grid.changed();
    };
    grid.renderer.fillTarget = () => target;
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
    window.addEventListener("keydown", escape, true);
    grid.root.focus({ preventScroll: true });
  }

  doubleClick(event) {
    const { r, c } = this.hit(event);
    if (r >= 0 && c >= 0) this.grid.editing.start();
  }
}
