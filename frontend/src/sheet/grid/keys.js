// What a key pressed on the grid (not in the editor) means: a pure mapping from the key event to
// a command, so the keyboard is testable without a browser. The grid carries the command out.

/**
 * @param {{key: string, code?: string, ctrlKey?: boolean, metaKey?: boolean, shiftKey?: boolean, altKey?: boolean}} event
 * @param {{r: number, c: number, lastR: number, lastC: number, page: number, toggles: boolean}} at
 *   the active cell, the last row and column, the rows in a page, whether the active cell toggles (a checkbox)
 * @returns {null | {move: [number, number], extend: boolean} | {command: string, text?: string}}
 */
export function keyCommand(event, { r, c, lastR, lastC, page, toggles }) {
  const ctrl = event.ctrlKey || event.metaKey;
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
  if (Object.hasOwn(moves, key)) return { move: /** @type {[number, number]} */ (moves[key]), extend: !!event.shiftKey };
  if (key === "Tab") return { move: [r, c + (event.shiftKey ? -1 : 1)], extend: false };
  if (key === "Enter" || key === "F2") return { command: "edit" };
  if (key === "Escape") return { command: "collapse" };
  if (key === "Delete" || key === "Backspace") return { command: "clear" };
  const letter = key.toLowerCase();
  if (ctrl && event.altKey && (letter === "h" || event.code === "KeyH")) return { command: "history" };
  if (ctrl && event.altKey && (letter === "m" || event.code === "KeyM")) return { command: "comments" };
  if (ctrl && letter === "z") return { command: event.shiftKey ? "redo" : "undo" };
  if (ctrl && letter === "y") return { command: "redo" };
  if (ctrl && letter === "d") return { command: "fillDown" };
  if (ctrl && letter === "a") return { command: "selectAll" };
  if (key === "?" && !ctrl && !event.altKey) return { command: "help" };
  if (key === " " && toggles) return { command: "toggle" };
  if (key.length === 1 && !ctrl && !event.altKey) return { command: "type", text: key };
  return null;
}

/** Keys in the open editor: commit and move (Enter, Tab), or cancel (Escape). */
export function editorKeyCommand(event) {
  if (event.key === "Enter") return { command: "commit", move: [event.shiftKey ? -1 : 1, 0] };
  if (event.key === "Tab") return { command: "commit", move: [0, event.shiftKey ? -1 : 1] };
  if (event.key === "Escape") return { command: "cancel" };
  return null;
}
