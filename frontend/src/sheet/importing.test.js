import { expect, test } from "vitest";
import {
  blockedReason, countsText, defaultKey, defaultMapping, fileProblem, importForm, keyChoices, mappingProblem,
  followJob, jobResultText, resultText, sameMapping, targets,
} from "./importing.js";

const columns = [
  { key: "c1", name: "Code", type: "text" },
  { key: "c2", name: "Amount", type: "number" },
  { key: "c3", name: "Double", type: "formula" },
];

test("a formula column is no target: the server's mapping to it becomes a skip", () => {
  expect(targets(columns).map((c) => c.key)).toEqual(["c1", "c2"]);
  const suggested = { code: "c1", Double: "c3" };
  expect(defaultMapping(["code", "Qty", "Double"], suggested, columns)).toEqual({ code: "c1", Qty: null, Double: null });
  expect(defaultMapping(["Ref"], undefined, columns)).toEqual({ Ref: null });
  expect(defaultMapping(["Ref"], { Ref: "gone" }, columns)).toEqual({ Ref: null });
});

test("mappings compare by where each file column goes, null and absent alike", () => {
  expect(sameMapping({ a: "c1", b: null }, { a: "c1" })).toBe(true);
  expect(sameMapping({ a: "c1", b: "c2" }, { a: "c1" })).toBe(false);
  expect(sameMapping({}, null)).toBe(true);
});

test("the key is one of the mapped sheet columns, kept while it still is", () => {
  const mapping = { Qty: "c2", Ref: "c1", Other: null };
  expect(keyChoices(mapping, columns).map((c) => c.key)).toEqual(["c1", "c2"]); // in the sheet's order
  expect(defaultKey("c2", mapping, columns)).toBe("c2");
  expect(defaultKey("", mapping, columns)).toBe("c1");
  expect(defaultKey("c1", { Qty: "c2", Ref: null }, columns)).toBe("c2");
  expect(defaultKey("c1", { Ref: null }, columns)).toBe("");
});

test("a mapping with nothing mapped, or two file columns on one sheet column, is refused", () => {
  expect(mappingProblem({ a: null }, columns)).toMatch(/at least one/);
  expect(mappingProblem({ a: "c2", b: "c2" }, columns)).toBe("Two columns of the file go to “Amount”: choose one.");
  expect(mappingProblem({ a: "c1", b: "c2", c: null }, columns)).toBe("");
});

test("a file is checked before it is sent: kind, size, empty", () => {
  const file = (name, size) => ({ name, size });
  expect(fileProblem(file("a.xlsx", 10), 100)).toBe("");
  expect(fileProblem(file("A.CSV", 10), 0)).toBe("");
  expect(fileProblem(file("photo.png", 10), 100)).toMatch(/not a CSV file or a workbook/);
  expect(fileProblem(file("big.ods", 3 * 1024 * 1024), 2 * 1024 * 1024)).toBe("“big.ods” is larger than 2 MB, the most an import takes.");
  expect(fileProblem(file("a.csv", 0), 100)).toMatch(/empty/);
});

test("the form sends the key only for an upsert, the mapping only once there is one", () => {
  const file = new File(["a\n1\n"], "a.csv");
  const first = importForm({ file, mode: "append", key: "c1", mapping: null, worksheet: "", dateOrder: "" });
  expect([...first.keys()]).toEqual(["file", "mode"]);
  const next = importForm({ file, mode: "upsert", key: "c1", mapping: { a: "c1", b: null }, worksheet: "Two", dateOrder: "dmy" });
  expect(Object.fromEntries([...next.entries()].filter(([k]) => k !== "file"))).toEqual({
    mode: "upsert", key: "c1", mapping: '{"a":"c1","b":null}', sheet: "Two", date_order: "dmy",
  });
});

test("counts and results in words", () => {
  expect(countsText({ new: 3, updated: 2, unchanged: 1 }, "upsert")).toBe("3 new rows · 2 updated · 1 unchanged");
  expect(countsText({ new: 1, updated: 0, unchanged: 0 }, "append")).toBe("1 new row");
  expect(resultText({ new: 12, updated: 3 })).toBe("12 rows added, 3 updated");
  expect(resultText({ new: 1, updated: 0 })).toBe("1 row added");
});

test("Import is blocked, with the reason, until a clean preview says there is something to do", () => {
  const ready = {
    file: { name: "a.csv" }, problem: "", checking: false, mode: "upsert", key: "c1", columns,
    mapping: { Ref: "c1" }, preview: { new: 1, updated: 0, unchanged: 0, bad_count: 0, bad: [] },
  };
  expect(blockedReason(ready)).toBe("");
  expect(blockedReason({ ...ready, file: null })).toBe("Choose a file first.");
  expect(blockedReason({ ...ready, problem: "boom" })).toBe("Fix the problem above first.");
  expect(blockedReason({ ...ready, mapping: { Ref: null } })).toMatch(/at least one/);
  expect(blockedReason({ ...ready, key: "" })).toMatch(/key column/);
  expect(blockedReason({ ...ready, checking: true })).toBe("Checking the file…");
  expect(blockedReason({ ...ready, preview: { ...ready.preview, bad_count: 2 } })).toMatch(/^2 rows of the file cannot be imported/);
  expect(blockedReason({ ...ready, preview: { ...ready.preview, new: 0, unchanged: 1 } })).toMatch(/^Nothing to import/);
});

test("a large file's import job is followed until it ends", async () => {
  const states = [{ id: 7, status: "running", rows: 100 }, { id: 7, status: "done", rows: 300 }];
  const seen = [], waits = [];
  const job = await followJob({ id: 7, status: "queued", rows: 0 }, {
    get: async (id) => ({ ...states.shift(), asked: id }),
    wait: async (ms) => waits.push(ms),
    onjob: (j) => seen.push(j.status),
  });
  expect(seen).toEqual(["queued", "running", "done"]);
  expect(waits).toEqual([500, 500]);
  expect(job.asked).toBe(7);
  expect(jobResultText(job)).toBe("300 rows imported");
  expect(jobResultText({ rows: 1 })).toBe("1 row imported");
});

test("a failed import job is an error with its reason", async () => {
  const failing = followJob({ id: 8, status: "queued" }, {
    get: async () => ({ id: 8, status: "failed", error: "2 rows cannot be imported; nothing was imported" }),
    wait: async () => {},
  });
  await expect(failing).rejects.toThrow("2 rows cannot be imported; nothing was imported");
});
