// Who is here (docs/realtime.md, `presence`): the people the server listed, keyed by connection, and
// the number of people per server process. Presence protocol 2 sends a room's changes in batches
// and a large room only in part (those editing or selecting first), so the count can be larger than
// the list; protocol 1's per-event frames (joined, update, left) are applied too.

export const PROTOCOL = 2;

export class PresenceRoom {
  constructor() {
    this.people = new Map(); // connection -> {connection, user, name, colour, selection, editing}
    this.counts = new Map(); // server process -> people connected through it
    this.me = null;
  }

  /** The welcome: who you are, a snapshot of the room, the counts; what was known before is dropped. */
  welcome(frame) {
    this.people.clear();
    this.counts.clear();
    this.me = frame.you;
    for (const who of frame.presence) this.people.set(who.connection, who);
    for (const [server, count] of Object.entries(frame.counts ?? {})) this.count(server, count);
    if (frame.you) this.people.set(frame.you.connection, { ...frame.you, selection: null, editing: false });
  }

  /** A `presence` frame: a batch, another process's snapshot (merged, never replacing), or an event. */
  apply(frame) {
    switch (frame.event) {
      case "batch":
        for (const who of frame.joined) this.people.set(who.connection, who);
        for (const who of frame.updated) this.people.set(who.connection, who);
        for (const connection of frame.left) this.people.delete(connection);
        break;
      case "snapshot":
        for (const who of frame.members) this.people.set(who.connection, who);
        break;
      case "left":
        this.people.delete(frame.who.connection);
        break;
      default: // protocol 1: joined, update
        this.people.set(frame.who.connection, frame.who);
    }
    if (frame.server !== undefined && frame.count !== undefined) this.count(frame.server, frame.count);
  }

  count(server, count) {
    if (count > 0) this.counts.set(server, count);
    else this.counts.delete(server);
  }

  /** How many people are here (you included): the servers' counts, or those listed when bigger. */
  get total() {
    let sum = 0;
    for (const count of this.counts.values()) sum += count;
    return Math.max(sum, this.people.size);
  }

  /** The people listed, by name, you included. */
  list() {
    return [...this.people.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The others, whose selections the grid draws. */
  others() {
    return this.list().filter((p) => p.connection !== this.me?.connection);
  }
}
