import { expect, test } from "vitest";
import { PresenceRoom } from "./presence.js";

const person = (connection, name, extra = {}) => ({ connection, user: 1, name, colour: "#000", selection: null, editing: false, ...extra });
const welcome = (extra = {}) => ({
  type: "welcome",
  version: 1,
  access: "edit",
  you: { connection: "me", user: 9, name: "Me", colour: "#fff" },
  presence: [person("a", "Ada")],
  protocol: 2,
  counts: { s1: 2 },
  ...extra,
});

test("the welcome lists the snapshot and you, and counts per server", () => {
  const room = new PresenceRoom();
  room.welcome(welcome());
  expect(room.list().map((p) => p.name)).toEqual(["Ada", "Me"]);
  expect(room.others().map((p) => p.connection)).toEqual(["a"]);
  expect(room.total).toBe(2);
});

test("a batch adds, updates and removes people and sets its server's count", () => {
  const room = new PresenceRoom();
  room.welcome(welcome());
  room.apply({ type: "presence", event: "batch", joined: [person("b", "Bob")], updated: [person("a", "Ada", { editing: true })], left: [], server: "s1", count: 3 });
  expect(room.people.get("a").editing).toBe(true);
  expect(room.total).toBe(3);
  room.apply({ type: "presence", event: "batch", joined: [], updated: [], left: ["a", "gone-long-ago"], server: "s1", count: 2 });
  expect(room.list().map((p) => p.name)).toEqual(["Bob", "Me"]);
  expect(room.total).toBe(2);
});

test("a large room: the count is more than the people listed; an update of someone unlisted lists them", () => {
  const room = new PresenceRoom();
  room.welcome(welcome({ counts: { s1: 1500 } }));
  room.apply({ type: "presence", event: "batch", joined: [], updated: [], left: [], server: "s2", count: 500 });
  expect(room.total).toBe(2000);
  expect(room.people.size).toBe(2);
  room.apply({ type: "presence", event: "batch", joined: [], updated: [person("z", "Zed", { selection: { row: 1, col: "c1" } })], left: [], server: "s2", count: 500 });
  expect(room.others().map((p) => p.name)).toEqual(["Ada", "Zed"]);
  room.apply({ type: "presence", event: "batch", joined: [], updated: [], left: [], server: "s2", count: 0 });
  expect(room.total).toBe(1500);
});

test("another process's snapshot is merged, not a replacement, and brings its count", () => {
  const room = new PresenceRoom();
  room.welcome(welcome());
  room.apply({ type: "presence", event: "snapshot", members: [person("c", "Cy")], server: "s2", count: 4 });
  expect(room.list().map((p) => p.name)).toEqual(["Ada", "Cy", "Me"]);
  expect(room.total).toBe(6);
});

test("protocol 1 frames still apply, and without counts the total is who is listed", () => {
  const room = new PresenceRoom();
  room.welcome(welcome({ counts: undefined, protocol: undefined }));
  room.apply({ type: "presence", event: "joined", who: person("b", "Bob") });
  room.apply({ type: "presence", event: "update", who: person("b", "Bob", { editing: true }) });
  expect(room.people.get("b").editing).toBe(true);
  room.apply({ type: "presence", event: "left", who: person("a", "Ada") });
  expect(room.list().map((p) => p.name)).toEqual(["Bob", "Me"]);
  expect(room.total).toBe(2);
});

test("a new welcome (a reconnect) forgets what was known", () => {
  const room = new PresenceRoom();
  room.welcome(welcome());
  room.apply({ type: "presence", event: "batch", joined: [person("b", "Bob")], updated: [], left: [], server: "s9", count: 7 });
  room.welcome(welcome({ presence: [], counts: { s1: 1 } }));
  expect(room.list().map((p) => p.name)).toEqual(["Me"]);
  expect(room.total).toBe(1);
});
