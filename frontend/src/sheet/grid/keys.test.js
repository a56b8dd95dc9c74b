// The keyboard as commands, without a browser.
import { describe, expect, test } from "vitest";

import { editorKeyCommand, keyCommand } from "./keys.js";

const at = { r: 5, c: 2, lastR: 99, lastC: 4, page: 10, toggles: false };
const key = (k, mods = {}) => keyCommand({ key: k, ...mods }, at);

describe("moves", () => {
  test.each([
    ["ArrowUp", {}, [4, 2]],
    ["ArrowDown", {}, [6, 2]],
    ["ArrowLeft", {}, [5, 1]],
    ["ArrowRight", {}, [5, 3]],
    ["ArrowUp", { ctrlKey: true }, [0, 2]],
    ["ArrowDown", { metaKey: true }, [99, 2]],
    ["ArrowRight", { ctrlKey: true }, [5, 4]],
    ["PageDown", {}, [15, 2]],
    ["PageUp", {}, [-5, 2]],
    ["Home", {}, [5, 0]],
    ["End", { ctrlKey: true }, [99, 4]],
    ["Tab", {}, [5, 3]],
    ["Tab", { shiftKey: true }, [5, 1]],
  ])("%s %j goes to %j", (k, mods, to) => {
    expect(key(k, mods)).toMatchObject({ move: to });
  });

  test("Shift extends, except with Tab", () => {
    expect(key("ArrowDown", { shiftKey: true })).toMatchObject({ extend: true });
    expect(key("Tab", { shiftKey: true })).toMatchObject({ extend: false });
  });
});

describe("commands", () => {
  test.each([
    ["Enter", {}, "edit"],
    ["F2", {}, "edit"],
    ["Escape", {}, "collapse"],
    ["Delete", {}, "clear"],
    ["Backspace", {}, "clear"],
    ["z", { ctrlKey: true }, "undo"],
    ["Z", { ctrlKey: true, shiftKey: true }, "redo"],
    ["y", { metaKey: true }, "redo"],
    ["d", { ctrlKey: true }, "fillDown"],
    ["A", { ctrlKey: true }, "selectAll"],
    ["?", { shiftKey: true }, "help"],
    ["h", { ctrlKey: true, altKey: true }, "history"],
    ["m", { ctrlKey: true, altKey: true }, "comments"],
  ])("%s %j is %s", (k, mods, command) => {
    expect(key(k, mods)).toEqual({ command });
  });

  test("a printable key starts editing with it; not with Ctrl or Alt", () => {
    expect(key("x")).toEqual({ command: "type", text: "x" });
    expect(key(" ")).toEqual({ command: "type", text: " " });
    expect(key("x", { altKey: true })).toBeNull();
    expect(key("q", { ctrlKey: true })).toBeNull();
    expect(key("Shift")).toBeNull();
  });

  test("Space toggles a cell whose editor toggles", () => {
    expect(keyCommand({ key: " " }, { ...at, toggles: true })).toEqual({ command: "toggle" });
  });
});

test("editor keys: Enter and Tab commit and move, Escape cancels", () => {
  expect(editorKeyCommand({ key: "Enter" })).toEqual({ command: "commit", move: [1, 0] });
  expect(editorKeyCommand({ key: "Enter", shiftKey: true })).toEqual({ command: "commit", move: [-1, 0] });
  expect(editorKeyCommand({ key: "Tab", shiftKey: true })).toEqual({ command: "commit", move: [0, -1] });
  expect(editorKeyCommand({ key: "Escape" })).toEqual({ command: "cancel" });
  expect(editorKeyCommand({ key: "a" })).toBeNull();
});
