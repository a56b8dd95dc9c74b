/**
 * Close a menu or popover when someone clicks outside `box` or presses Escape. Returns the function
 * that stops listening, so that `onMount(() => dismissible(box, onclose))` cleans up after itself.
 * The outside-click listener starts on the next tick: the click that opened the menu is not one.
 */
export function dismissible(box, onclose) {
  const away = (e) => !box.contains(e.target) && onclose();
  const esc = (e) => e.key === "Escape" && onclose();
  const started = setTimeout(() => document.addEventListener("pointerdown", away));
  document.addEventListener("keydown", esc);
  return () => {
    clearTimeout(started);
    document.removeEventListener("pointerdown", away);
    document.removeEventListener("keydown", esc);
  };
}
