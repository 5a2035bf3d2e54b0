import { describe, expect, it } from "vitest";
import approveLargeOrders from "../../../studio_shared/examples/approve_large_orders.json";
import { nodeType, registry } from "../test/registry";
import { definitionToGraph, type Definition, type StepEdge, type StepNode } from "./definition";
import {
  addSelected,
  connectionEdge,
  connectTargets,
  deselected,
  initialConfig,
  newStepNode,
  nextNodePosition,
  openGraph,
  outgoingEdges,
  restoreEdges,
  restoreNodes,
  schemaDefaults,
  semanticKey,
  triggerInputSchema,
  withConfig,
  withLabel,
  withProblems,
} from "./graphEdits";
import { typeInfo } from "./nodeTypes";

const info = typeInfo(registry);
const byType = new Map(registry.map((t) => [t.type, t]));
const demo = approveLargeOrders.definition as Definition;
const graph = () => definitionToGraph(demo, info);
const ids = (items: readonly { id: string }[]) => items.map((x) => x.id);

describe("opening a draft", () => {
  it("keeps stored positions and lays out a draft that has none", () => {
    expect(openGraph(demo, info).nodes.map((n) => n.position)).toEqual(demo.nodes.map((n) => n.position));
    const bare = { ...demo, nodes: demo.nodes.map(({ position: _p, ...n }) => n) };
    const laidOut = openGraph(bare, info).nodes;
    expect(new Set(laidOut.map((n) => `${n.position.x},${n.position.y}`)).size).toBe(laidOut.length);
  });

  it("keys validation by everything but positions", () => {
    const moved = { ...demo, nodes: demo.nodes.map((n) => ({ ...n, position: { x: 1, y: 2 } })) };
    expect(semanticKey(moved)).toBe(semanticKey(demo));
    const edited = { ...demo, nodes: demo.nodes.map((n) => (n.id === "check" ? { ...n, config: {} } : n)) };
    expect(semanticKey(edited)).not.toBe(semanticKey(demo));
  });

  it("reads the defaults of a config schema's properties, and nothing else", () => {
    expect(schemaDefaults({ properties: { a: { type: "number", default: 3 }, b: { type: "string" }, c: { default: null } } })).toEqual({
      a: 3,
      c: null,
    });
    expect(schemaDefaults(undefined)).toEqual({});
    expect(schemaDefaults({ properties: [] })).toEqual({});
  });
});

describe("adding nodes", () => {
  it("puts a node added without a position right of the rightmost, level with the newest", () => {
    expect(nextNodePosition([])).toEqual({ x: 0, y: 0 });
    // The demo's nodes end at notify (900, 0); ok sits at (600, -110).
    expect(nextNodePosition(graph().nodes)).toEqual({ x: 1160, y: 0 });
    const [start, check] = graph().nodes;
    expect(nextNodePosition([check!, { ...start!, position: { x: 10, y: 99 } }])).toEqual({ x: 560, y: 99 });
  });

  it("makes a selected node with an empty config and its type's branches", () => {
    const node = newStepNode("check_2", nodeType("condition"), info, { x: 5, y: 6 });
    expect(node).toMatchObject({ id: "check_2", type: "step", position: { x: 5, y: 6 }, selected: true });
    const { icon, color } = nodeType("condition");
    expect(node.data).toEqual({ nodeType: "condition", title: "Condition", config: {}, extras: {}, branches: ["true", "false"], problems: [], icon, color });
    expect(color).toBe("#7c3aed"); // the registry's: Logic is violet
  });

  it("starts a node with the defaults of its required settings only (the code node's language)", () => {
    expect(newStepNode("c", nodeType("code"), info, { x: 0, y: 0 }).data.config).toEqual({ language: "javascript" });
    // Optional settings' defaults are the server's to apply: timeout_s and memory_mb stay out.
    expect(initialConfig({ required: ["a"], properties: { a: { default: [1] }, b: { default: 2 }, c: {} } })).toEqual({ a: [1] });
    expect(initialConfig({ required: ["c"], properties: { c: { type: "string" } } })).toEqual({});
    expect(initialConfig(null)).toEqual({});
  });

  it("selects only what was added", () => {
    const current = graph().nodes.map((n, i) => ({ ...n, selected: i < 2 }));
    const added = newStepNode("t", nodeType("transform"), info, { x: 0, y: 0 });
    const next = addSelected(current, [{ ...added, selected: false }]);
    expect(next.filter((n) => n.selected).map((n) => n.id)).toEqual(["t"]);
    expect(next[2]).toBe(current[2]); // nodes that were not selected are kept as they are
    const edges: StepEdge[] = graph().edges.map((e) => ({ ...e, selected: true }));
    expect(deselected(edges).some((e) => e.selected)).toBe(false);
  });
});

describe("connecting", () => {
  it("makes an edge per connection, labelled with its branch, and none from a node to itself", () => {
    expect(connectionEdge({ source: "a", target: "a", sourceHandle: null, targetHandle: null })).toBeNull();
    expect(connectionEdge({ source: "a", target: "b", sourceHandle: null, targetHandle: null })).toEqual({
      id: "a:->b",
      source: "a",
      target: "b",
      sourceHandle: null,
      data: {},
    });
    expect(connectionEdge({ source: "c", target: "b", sourceHandle: "true", targetHandle: null })).toMatchObject({
      id: "c:true->b",
      sourceHandle: "true",
      label: "true",
    });
  });

  it("lists a node's outgoing edges and the nodes it may connect to (never a trigger, never itself)", () => {
    const { nodes, edges } = graph();
    expect(outgoingEdges(edges, "check")).toEqual([
      { id: "check:true->ok", target: "ok", branch: "true" },
      { id: "check:false->notify", target: "notify", branch: "false" },
    ]);
    const labelled = nodes.map((n) => (n.id === "ok" ? withLabel(n, "Sign-off") : n));
    expect(connectTargets(labelled, "check", byType)).toEqual([
      { id: "ok", label: "Sign-off" },
      { id: "notify", label: "Transform" },
    ]);
  });
});

describe("editing a node", () => {
  it("sets and removes a label among the node-level keys", () => {
    const [, check] = graph().nodes;
    const labelled = withLabel(check!, "Big?");
    expect(labelled.data.extras).toEqual({ label: "Big?" });
    expect(withLabel(labelled, "").data.extras).toEqual({});
  });

  it("takes a new config's branches (a switch's cases)", () => {
    const node = newStepNode("s", nodeType("switch"), info, { x: 0, y: 0 });
    const edited = withConfig(node, { value: "{{ input.c }}", cases: ["DE", "FR"] }, info);
    expect(edited.data.branches).toEqual(["DE", "FR", "default"]);
    expect(edited.data.config).toEqual({ value: "{{ input.c }}", cases: ["DE", "FR"] });
  });

  it("puts problems on their nodes and leaves untouched nodes as they are", () => {
    const nodes = graph().nodes;
    const problem = { message: "bad", code: "INVALID_CONFIG", field: ["expression"] };
    const shown = withProblems(nodes, { check: [problem] });
    expect(shown.find((n) => n.id === "check")!.data.problems).toEqual([problem]);
    expect(shown[0]).toBe(nodes[0]);
    const cleared = withProblems(shown, {});
    expect(cleared.every((n) => n.data.problems.length === 0)).toBe(true);
  });

  it("reads the trigger's input schema for the start-run form", () => {
    expect(triggerInputSchema(graph().nodes, byType)).toEqual(approveLargeOrders.definition.nodes[0]?.config.input_schema);
    expect(triggerInputSchema(graph().nodes.slice(1), byType)).toBeUndefined();
  });
});

describe("restoring a history state", () => {
  it("keeps the selection, measurements and problems of nodes that stay, and takes the state's positions and data", () => {
    const current: StepNode[] = graph().nodes.map((n) =>
      n.id === "check"
        ? { ...n, selected: true, measured: { width: 200, height: 72 }, data: { ...n.data, problems: [{ message: "x", code: "C", field: [] }] } }
        : n,
    );
    const older = definitionToGraph(
      { nodes: [{ id: "check", type: "condition", config: { expression: "{{ 1 }}" }, position: { x: 9, y: 9 } }] },
      info,
    ).nodes;
    const [check] = restoreNodes(current, older);
    expect(ids(restoreNodes(current, older))).toEqual(["check"]);
    expect(check).toMatchObject({ selected: true, measured: { width: 200, height: 72 }, position: { x: 9, y: 9 } });
    expect(check!.data.config).toEqual({ expression: "{{ 1 }}" });
    expect(check!.data.problems).toEqual([{ message: "x", code: "C", field: [] }]);
    // A node the current graph does not have comes as the state has it.
    const added = restoreNodes([], older);
    expect(added[0]).toBe(older[0]);
  });

  it("keeps the selection of edges that stay", () => {
    const current = graph().edges.map((e) => (e.target === "ok" ? { ...e, selected: true } : e));
    const restored = restoreEdges(current, graph().edges);
    expect(restored.filter((e) => e.selected).map((e) => e.id)).toEqual(["check:true->ok"]);
  });
});
