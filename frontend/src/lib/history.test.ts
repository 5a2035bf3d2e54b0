import { describe, expect, it } from "vitest";
import type { Definition } from "./definition";
import { canRedo, canUndo, classifyEdit, createHistory, editedFields, hashString, nudgeGroup, record, redo, seal, undo } from "./history";

describe("undo/redo history", () => {
  it("undoes and redoes in order, and a new record clears the redo list", () => {
    let h = createHistory("a");
    h = record(h, "b", { now: 0 });
    h = record(h, "c", { now: 10_000 });
    expect(canUndo(h)).toBe(true);
    expect(canRedo(h)).toBe(false);
    h = undo(h);
    expect(h.present).toBe("b");
    h = undo(h);
    expect(h.present).toBe("a");
    expect(canUndo(h)).toBe(false);
    expect(undo(h)).toBe(h);
    h = redo(h);
    expect(h.present).toBe("b");
    expect(h.future).toEqual(["c"]);
    h = record(h, "d", { now: 20_000 });
    expect(h.future).toEqual([]);
    expect(redo(h)).toBe(h);
    expect(h.past).toEqual(["a", "b"]);
  });

  it("records nothing for a state equal to the present one", () => {
    const h = record(createHistory({ k: "x" }), { k: "y" }, { now: 0 });
    const same = record(h, { k: "y" }, { now: 1, equals: (a, b) => a.k === b.k });
    expect(same).toBe(h);
  });

  it("coalesces a burst in one group into one entry, within the window only", () => {
    let h = createHistory("");
    h = record(h, "h", { group: "config:n1:url", now: 0 });
    h = record(h, "ht", { group: "config:n1:url", now: 400 });
    h = record(h, "htt", { group: "config:n1:url", now: 800 });
    expect(h.past).toEqual([""]);
    expect(h.present).toBe("htt");
    // A pause longer than the window starts a new entry.
    h = record(h, "http", { group: "config:n1:url", now: 800 + 5_000 });
    expect(h.past).toEqual(["", "htt"]);
    // Another field, or an ungrouped change, starts a new entry too.
    h = record(h, "http2", { group: "config:n1:method", now: 5_900 });
    h = record(h, "http3", { now: 5_950 });
    h = record(h, "http4", { now: 5_960 });
    expect(h.past).toEqual(["", "htt", "http", "http2", "http3"]);
  });

  it("never coalesces across an undo or a seal", () => {
    let h = createHistory(0);
    h = record(h, 1, { group: "g", now: 0 });
    h = undo(h);
    h = record(h, 2, { group: "g", now: 10 });
    expect(h.past).toEqual([0]);
    h = seal(h);
    h = record(h, 3, { group: "g", now: 20 });
    expect(h.past).toEqual([0, 2]);
  });

  it("lets a normalised state stand in for the present one without a new entry or losing redo", () => {
    let h = createHistory("a");
    h = record(h, "b", { now: 0 });
    h = undo(h);
    h = record(h, "a+defaults", { replace: true, now: 10 });
    expect(h).toMatchObject({ past: [], present: "a+defaults", future: ["b"] });
    expect(redo(h).present).toBe("b");
  });

  it("keeps at most `cap` past states, dropping the oldest", () => {
    let h = createHistory(0, 3);
    for (let i = 1; i <= 10; i++) h = record(h, i, { now: i * 10_000 });
    expect(h.past).toEqual([7, 8, 9]);
    h = undo(undo(undo(h)));
    expect(h.present).toBe(7);
    expect(canUndo(h)).toBe(false);
    for (let i = 0; i < 3; i++) h = redo(h);
    expect(h.present).toBe(10);
    expect(h.past.length).toBe(3);
  });

  it("names the fields an inspector edit changed, ignoring defaults the form filled in", () => {
    expect(editedFields({ url: "a" }, { url: "ab" })).toEqual(["url"]);
    expect(editedFields({}, { url: "a", method: "GET", timeout_s: 30 }, { method: "GET", timeout_s: 30 })).toEqual(["url"]);
    // Only defaults filled in (the form showing a node): no edit.
    expect(editedFields({}, { method: "GET" }, { method: "GET" })).toEqual([]);
    expect(editedFields({ a: 1, b: [1] }, { a: 1, b: [1] })).toEqual([]);
    expect(editedFields({ a: 1, b: 2 }, { b: 3 })).toEqual(["a", "b"]);
  });

  it("classifies a change: one node's config keys or label (a burst), defaults filled in, or anything else", () => {
    const base: Definition = {
      nodes: [
        { id: "a", type: "http.request", config: { url: "x" }, position: { x: 0, y: 0 } },
        { id: "b", type: "condition", config: {}, label: "B", position: { x: 1, y: 0 } },
      ],
      edges: [{ source: "a", target: "b" }],
    };
    const defaults = (type: string) => (type === "http.request" ? { method: "GET", timeout_s: 30 } : {});
    const edit = (change: (d: Definition) => void) => {
      const d = structuredClone(base);
      change(d);
      return classifyEdit(base, d, defaults);
    };
    expect(edit((d) => (d.nodes[0]!.config = { url: "xy" }))).toEqual({ group: "config:a:url", replace: false });
    expect(edit((d) => (d.nodes[0]!.config = { url: "x", method: "GET", timeout_s: 30 }))).toEqual({ group: null, replace: true });
    expect(edit((d) => (d.nodes[0]!.config = { url: "xy", method: "GET" }))).toEqual({ group: "config:a:url", replace: false });
    expect(edit((d) => (d.nodes[1]!.label = "Bee"))).toEqual({ group: "label:b", replace: false });
    const other = { group: null, replace: false };
    expect(edit((d) => (d.nodes[1]!.timeout_s = 3))).toEqual(other);
    expect(edit((d) => (d.nodes[0]!.position = { x: 5, y: 5 }))).toEqual(other);
    expect(edit((d) => d.nodes.pop())).toEqual(other);
    expect(edit((d) => (d.edges = []))).toEqual(other);
    expect(edit((d) => (d.nodes[1]!.id = "c"))).toEqual(other);
    expect(
      edit((d) => {
        d.nodes[0]!.config = { url: "y" };
        d.nodes[1]!.config = { expression: "{{ 1 }}" };
      }),
    ).toEqual(other);
    expect(classifyEdit(base, base)).toEqual(other);
  });

  it("hashes definitions' JSON stably", () => {
    expect(hashString('{"nodes":[]}')).toBe(hashString('{"nodes":[]}'));
    expect(hashString('{"nodes":[1]}')).not.toBe(hashString('{"nodes":[2]}'));
    expect(hashString("")).not.toBe(hashString(" "));
  });
});

describe("keyboard nudges", () => {
  const at = (x: number, y: number, label?: string): Definition => ({
    nodes: [
      { id: "a", type: "transform", config: {}, position: { x, y }, ...(label ? { label } : {}) },
      { id: "b", type: "transform", config: {}, position: { x: 300, y: 0 } },
    ],
    edges: [{ source: "a", target: "b" }],
  });

  it("groups a move of the same nodes, and nothing else", () => {
    expect(nudgeGroup(at(0, 0), at(5, 0))).toBe("nudge:a");
    expect(nudgeGroup(at(5, 0), at(5, 5))).toBe("nudge:a");
    expect(nudgeGroup(at(0, 0), at(0, 0))).toBeNull(); // no move
    expect(nudgeGroup(at(0, 0), at(5, 0, "renamed"))).toBeNull(); // more than a move
    expect(nudgeGroup(at(0, 0), { ...at(5, 0), edges: [] })).toBeNull();
  });

  it("makes consecutive nudges of one selection a single undo step", () => {
    let h = createHistory(at(0, 0));
    let now = 0;
    for (const x of [5, 10, 15]) {
      const next = at(x, 0);
      h = record(h, next, { group: nudgeGroup(h.present, next), now: (now += 100) });
    }
    expect(h.past).toHaveLength(1);
    h = undo(h);
    expect(h.present.nodes[0]!.position).toEqual({ x: 0, y: 0 });
    // After a pause longer than the burst window, the next nudge is a step of its own.
    const later = at(20, 0);
    h = redo(h);
    h = record(h, later, { group: nudgeGroup(h.present, later), now: now + 10_000 });
    expect(h.past).toHaveLength(2);
  });
});
