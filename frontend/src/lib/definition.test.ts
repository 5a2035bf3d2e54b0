import { describe, expect, it } from "vitest";
import approveLargeOrders from "../../../studio_shared/examples/approve_large_orders.json";
import { registry } from "../test/registry";
import { definitionToGraph, graphToDefinition, newNodeId, renameNode, type Definition } from "./definition";
import { typeInfo } from "./nodeTypes";

const types = typeInfo(registry);

// The demo's example workflow (contract §3's definition, a position on every node), with a label on one node.
const demo = approveLargeOrders.definition as Definition;
const example: Definition = {
  ...demo,
  nodes: demo.nodes.map((n) => (n.id === "notify" ? { ...n, label: "Notify" } : n)),
};

describe("definition ⇄ graph", () => {
  it("round-trips a definition unchanged, node-level keys included", () => {
    const { nodes, edges, needsLayout } = definitionToGraph(example, types);
    expect(needsLayout).toBe(false);
    expect(graphToDefinition(nodes, edges)).toEqual(example);
  });

  it("maps branches onto source handles and plain edges onto the default handle", () => {
    const { nodes, edges } = definitionToGraph(example, types);
    expect(edges.map((e) => [e.source, e.sourceHandle, e.target])).toEqual([
      ["start", null, "check"],
      ["check", "true", "ok"],
      ["check", "false", "notify"],
      ["ok", "approved", "notify"],
    ]);
    const byId = Object.fromEntries(nodes.map((n) => [n.id, n.data.branches]));
    expect(byId).toEqual({ start: [], check: ["true", "false"], ok: ["approved", "rejected"], notify: [] });
    expect(new Set(edges.map((e) => e.id)).size).toBe(edges.length);
  });

  it("takes a switch's branches from its cases plus default", () => {
    const { nodes } = definitionToGraph(
      { nodes: [{ id: "s", type: "switch", config: { value: "{{ input.c }}", cases: ["DE", "FR"] } }] },
      types,
    );
    expect(nodes[0]?.data.branches).toEqual(["DE", "FR", "default"]);
  });

  it("keeps edge ids the definition had and adds none it did not", () => {
    const def: Definition = {
      nodes: [
        { id: "a", type: "trigger.manual", config: {}, position: { x: 0, y: 0 } },
        { id: "b", type: "transform", config: { value: 1 }, position: { x: 1, y: 2 } },
      ],
      edges: [{ id: "mine", source: "a", target: "b" }],
    };
    const { nodes, edges } = definitionToGraph(def, types);
    expect(edges[0]?.id).toBe("mine");
    expect(graphToDefinition(nodes, edges)).toEqual(def);
  });

  it("asks for a layout when a node has no position, and writes rounded positions back", () => {
    const { nodes, edges, needsLayout } = definitionToGraph(
      { nodes: [{ id: "a", type: "trigger.manual" }], edges: [] },
      types,
    );
    expect(needsLayout).toBe(true);
    nodes[0]!.position = { x: 10.4, y: 19.6 };
    expect(graphToDefinition(nodes, edges)).toEqual({
      nodes: [{ id: "a", type: "trigger.manual", config: {}, position: { x: 10, y: 20 } }],
      edges: [],
    });
  });
});

describe("node ids", () => {
  it("derives a free, valid id from the type", () => {
    expect(newNodeId("http.request", [])).toBe("http_request_1");
    expect(newNodeId("condition", ["condition_1", "condition_2"])).toBe("condition_3");
    expect(newNodeId("9lives", [])).toBe("lives_1");
  });

  it("renames a node with its edges and refuses invalid or taken ids", () => {
    const { nodes, edges } = definitionToGraph(example, types);
    const renamed = renameNode(nodes, edges, "check", "gate");
    expect(renamed).not.toBeNull();
    const def = graphToDefinition(renamed!.nodes, renamed!.edges);
    expect(def.nodes.map((n) => n.id)).toEqual(["start", "gate", "ok", "notify"]);
    expect(def.edges).toEqual([
      { source: "start", target: "gate" },
      { source: "gate", target: "ok", branch: "true" },
      { source: "gate", target: "notify", branch: "false" },
      { source: "ok", target: "notify", branch: "approved" },
    ]);
    expect(renameNode(nodes, edges, "check", "ok")).toBeNull();
    expect(renameNode(nodes, edges, "check", "1bad")).toBeNull();
  });
});
