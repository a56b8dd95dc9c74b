import { describe, expect, it } from "vitest";
import { applyCommentFrame, cellKey, insertMention, markers, mentionQuery, mentionsIn, threadsAt } from "./comments.js";

const c = (id, fields = {}) => ({ id, row: 1, col: "c1", thread: null, resolved: false, body: `#${id}`, ...fields });

describe("comment frames", () => {
  it("adds, replaces and removes a thread with its replies", () => {
    let list = applyCommentFrame([], { event: "created", comment: c(1) });
    list = applyCommentFrame(list, { event: "created", comment: c(2, { thread: 1 }) });
    list = applyCommentFrame(list, { event: "created", comment: c(3, { row: 2 }) });
    list = applyCommentFrame(list, { event: "changed", comment: c(2, { thread: 1, body: "edited" }) });
    expect(list.map((x) => x.body)).toEqual(["#1", "edited", "#3"]);
    list = applyCommentFrame(list, { event: "deleted", comment: c(1), deleted: [1, 2] });
    expect(list.map((x) => x.id)).toEqual([3]);
  });

  it("ignores a change of a comment it never had", () => {
    expect(applyCommentFrame([c(1)], { event: "changed", comment: c(9) })).toEqual([c(1)]);
  });
});

describe("threads and markers", () => {
  const list = [c(1), c(2, { thread: 1 }), c(3, { col: "" }), c(4, { col: "c2", resolved: true }), c(5, { thread: 1 })];

  it("groups a cell's threads, replies in order", () => {
    const [thread] = threadsAt(list, 1, "c1");
    expect(thread.first.id).toBe(1);
    expect(thread.replies.map((r) => r.id)).toEqual([2, 5]);
    expect(threadsAt(list, 1, "").map((t) => t.first.id)).toEqual([3]);
  });

  it("marks open threads only", () => {
    expect([...markers(list)].sort()).toEqual([cellKey(1, ""), cellKey(1, "c1")].sort());
  });
});

describe("the @ of the comment box", () => {
  it("finds the word after an @ at the caret", () => {
    expect(mentionQuery("hello @an", 9)).toEqual({ query: "an", start: 6 });
    expect(mentionQuery("@", 1)).toEqual({ query: "", start: 0 });
    expect(mentionQuery("mail a@b", 8)).toBeNull();
    expect(mentionQuery("done @ann ", 10)).toBeNull();
  });

  it("inserts the name and keeps the ids still written", () => {
    const { text, caret } = insertMention("hi @an!", 3, 6, "Ann Lee");
    expect(text).toBe("hi @Ann Lee !");
    expect(caret).toBe(12);
    const picked = [{ id: 4, name: "Ann Lee" }, { id: 5, name: "Bo" }, { id: 4, name: "Ann Lee" }];
    expect(mentionsIn(text, picked)).toEqual([4]);
  });
});
