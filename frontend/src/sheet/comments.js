// The sheet's comments in the page, without the DOM: the list kept up to date by the socket's
// `comment` frames, the threads of a cell or row, the cells to mark (open threads only), and the
// `@` of the comment box (the word being typed after an @, and the text once someone is picked).

/** The key of a cell ("" column: the row itself) in the markers' set. */
export const cellKey = (row, col) => `${row}\u0000${col ?? ""}`;

/** The list after a `comment` frame (created, changed, deleted, resolved, reopened). */
export function applyCommentFrame(list, frame) {
  const { event, comment } = frame;
  if (event === "deleted") {
    const gone = new Set(frame.deleted?.length ? frame.deleted : [comment.id]);
    return list.filter((c) => !gone.has(c.id));
  }
  const i = list.findIndex((c) => c.id === comment.id);
  if (i < 0) return event === "created" ? [...list, comment] : list;
  const next = list.slice();
  next[i] = comment;
  return next;
}

/** Threads (first comment and its replies, oldest first) on a cell, or on the row itself (col ""). */
export function threadsAt(list, row, col) {
  const firsts = list.filter((c) => c.thread === null && c.row === row && c.col === (col ?? ""));
  return firsts
    .sort((a, b) => a.id - b.id)
    .map((first) => ({ first, replies: list.filter((c) => c.thread === first.id).sort((a, b) => a.id - b.id) }));
}

/** The cells (and rows) that have an open thread: what the grid marks. */
export function markers(list) {
  const marked = new Set();
  for (const c of list) if (c.thread === null && !c.resolved) marked.add(cellKey(c.row, c.col));
  return marked;
}

/** The word typed after an at sign at the caret, or null: {query, start} (start: where the at sign is). */
export function mentionQuery(text, caret) {
  const before = text.slice(0, caret);
  const match = /(^|\s)@([^\s@]{0,40})$/.exec(before);
  return match ? { query: match[2], start: caret - match[2].length - 1 } : null;
}

/** The text with the @word at `start` (up to the caret) replaced by "@Name ". */
export function insertMention(text, start, caret, name) {
  const inserted = `@${name} `;
  return { text: text.slice(0, start) + inserted + text.slice(caret), caret: start + inserted.length };
}

/** The ids of the people picked whose "@Name" is still in the text (a deleted mention is dropped). */
export function mentionsIn(text, picked) {
  return [...new Map(picked.filter((p) => text.includes(`@${p.name}`)).map((p) => [p.id, p])).keys()];
}
