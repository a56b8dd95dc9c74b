// The cell editor: an input over the active cell, made by the column type's editor (editors.js),
// committed on Enter, Tab, a click elsewhere or blur, cancelled by Escape.
import { isComputed } from "../../lib/columnTypes.js";
import { cellEditor } from "./editors.js";
import { editorKeyCommand } from "./keys.js";
import { place } from "./dom.js";

export class Editing {
  /** @param {import("./index.js").Grid} grid */
  constructor(grid) {
    this.grid = grid;
    this.input = null; // the open editor
    this.cell = null; // {rowId, col, original, fresh} of the open editor
    this.detach = null; // removes what the type's editor added beside the input
  }

  get open() {
    return this.input !== null;
  }

  /** Open the editor on the active cell, with its value selected or with `initial` typed. */
  start(initial) {
    const grid = this.grid;
    if (grid.refuseIfReadOnly()) return;
    const { r, c } = grid.selection.active;
    const row = grid.model.rowAt(r);
    const column = grid.model.columns[c];
    if (!row || !column) return;
    if (isComputed(column.type)) {
      grid.options.onMessage?.(`${column.name} is computed by its formula (= ${column.options?.formula ?? ""}); edit the cells it reads.`);
      return;
    }
    grid.reveal(r, c);
    const editor = cellEditor(column.type);
    const input = document.createElement("input");
    input.className = "gc-editor";
    input.setAttribute("aria-label", `Edit ${column.name}`);
    const current = editor.editText(grid.model.cell(row, column.key).value);
    input.value = initial ?? current;
    this.detach = editor.attach?.(input, column, grid.view) ?? null;
    this.input = input;
    // `original` is the cell's text: one typed character then Enter is a change too.
    this.cell = { rowId: row.id, col: column.key, original: current, fresh: initial !== undefined };
    input.addEventListener("keydown", (e) => this.key(e));
    input.addEventListener("blur", () => this.input === input && this.commit());
    grid.view.append(input);
    this.place();
    input.focus();
    if (initial === undefined) input.select();
    else input.setSelectionRange(input.value.length, input.value.length);
    grid.announce();
  }

  /** Keep the editor over its cell (after a scroll or a resize). */
  place() {
    const grid = this.grid;
    if (!this.input || !grid.layout) return;
    const { r, c } = grid.selection.active;
    place(this.input, grid.renderer.rect(r, r, c, c));
  }

  key(event) {
    event.stopPropagation();
    const todo = editorKeyCommand(event);
    if (!todo) return;
    event.preventDefault();
    if (todo.command === "cancel") return this.close();
    this.commit();
    const { r, c } = this.grid.selection.active;
    this.grid.select(r + todo.move[0], c + todo.move[1]);
  }

  /** Write the editor's value if it changed, and close it. */
  commit() {
    if (!this.input) return;
    const { rowId, col, original } = this.cell;
    const value = this.input.value;
    this.close();
    if (value !== original) this.grid.model.setCells([{ row: rowId, col, value }], this.grid.options.maxBatchCells);
  }

  close() {
    const input = this.input;
    this.input = null;
    this.cell = null;
    input?.remove();
    this.detach?.();
    this.detach = null;
    this.grid.root.focus({ preventScroll: true });
    this.grid.announce();
    this.grid.schedule();
  }
}
