import { describe, expect, it } from "vitest";
import type { Definition } from "./definition";
import { canonical, describeEdge, diffDefinitions, isEmptyDiff } from "./versionDiff";

const v1: Definition = {
  nodes: [
    { id: "start", type: "trigger.manual", config: {}, position: { x: 0, y: 0 } },
    { id: "check", type: "condition", config: { expression: "{{ input.a > 1 }}" }, position: { x: 200, y: 0 } },
    { id: "call", type: "http.request", config: { url: "https://a.org", method: "GET" }, position: { x: 400, y: 0 } },
    { id: "old", type: "fail", config: { message: "no" } },
  ],
  edges: [
    { source: "start", target: "check" },
    { source: "check", target: "call", branch: "true" },
    { source: "check", target: "old", branch: "false" },
  ],
};

const v2: Definition = {
  nodes: [
    { id: "start", type: "trigger.manual", config: {}, position: { x: 50, y: 50 } }, // moved only
    { id: "check", type: "condition", config: { expression: "{{ input.a > 2 }}" }, label: "Big?" },
    { id: "call", type: "http.request", config: { method: "GET", url: "https://a.org", body: { x: 1 } }, timeout_s: 5 },
    { id: "notify", type: "message.reply", config: { text: "hi" } },
  ],
  edges: [
    { source: "start", target: "check", id: "renamed-edge-id" },
    { source: "check", target: "call", branch: "true" },
    { source: "check", target: "notify", branch: "false" },
  ],
};

describe("version diff", () => {
  it("lists added, removed and changed nodes (with the keys that changed) and edges", () => {
    const d = diffDefinitions(v1, v2);
    expect(d.addedNodes.map((n) => n.id)).toEqual(["notify"]);
    expect(d.removedNodes.map((n) => n.id)).toEqual(["old"]);
    expect(d.changedNodes).toEqual([
      { id: "check", configKeys: ["expression"], fields: ["label"] },
      { id: "call", configKeys: ["body"], fields: ["timeout_s"] },
    ]);
    expect(d.addedEdges.map(describeEdge)).toEqual(["check → notify (false)"]);
    expect(d.removedEdges.map(describeEdge)).toEqual(["check → old (false)"]);
  });

  it("reports a type change and ignores positions and key order", () => {
    const a: Definition = { nodes: [{ id: "x", type: "transform", config: { value: { a: 1, b: 2 } } }] };
    const b: Definition = { nodes: [{ id: "x", type: "transform", config: { value: { b: 2, a: 1 } }, position: { x: 1, y: 1 } }] };
    expect(isEmptyDiff(diffDefinitions(a, b))).toBe(true);
    const c: Definition = { nodes: [{ id: "x", type: "switch", config: { value: { a: 1, b: 2 } } }] };
    expect(diffDefinitions(a, c).changedNodes).toEqual([
      { id: "x", type: { from: "transform", to: "switch" }, configKeys: [], fields: [] },
    ]);
    expect(canonical({ b: [{ d: 1, c: 2 }], a: null })).toBe('{"a":null,"b":[{"c":2,"d":1}]}');
  });

  it("finds nothing between a definition and itself, and everything against an empty one", () => {
    expect(isEmptyDiff(diffDefinitions(v1, v1))).toBe(true);
    const d = diffDefinitions({ nodes: [] }, v1);
    expect(d.addedNodes.length).toBe(4);
    expect(d.addedEdges.length).toBe(3);
    expect(d.removedNodes).toEqual([]);
  });
});
