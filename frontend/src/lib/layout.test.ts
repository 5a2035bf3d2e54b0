import { describe, expect, it } from "vitest";
import { registry } from "../test/registry";
import { definitionToGraph, type Definition } from "./definition";
import { LARGE_GRAPH, NODE_HEIGHT, NODE_WIDTH, layeredLayout, layoutGraph } from "./layout";
import { typeInfo } from "./nodeTypes";

const types = typeInfo(registry);

/** A binary tree of `size` transforms under a manual trigger, without positions (as the e2e's large workflow). */
function tree(size: number): Definition {
  const nodes: Definition["nodes"] = [{ id: "start", type: "trigger.manual", config: {} }];
  const edges: Definition["edges"] = [];
  for (let i = 1; i < size; i++) {
    nodes.push({ id: `t${i}`, type: "transform", config: { value: 1 } });
    edges.push({ source: i < 3 ? "start" : `t${Math.floor(i / 2)}`, target: `t${i}` });
  }
  return { nodes, edges };
}

function positions(def: Definition, layout = layeredLayout) {
  const g = definitionToGraph(def, types);
  return new Map(layout(g.nodes, g.edges).map((n) => [n.id, n.position]));
}

describe("the layered layout of large graphs", () => {
  it("puts every edge left to right and no two nodes on one another", () => {
    const def = tree(1000);
    const at = positions(def);
    for (const e of def.edges ?? []) expect(at.get(e.target)!.x).toBeGreaterThan(at.get(e.source)!.x);
    const boxes = [...at.values()].map((p) => `${Math.floor(p.x / NODE_WIDTH)}:${Math.floor(p.y / NODE_HEIGHT)}`);
    expect(new Set(boxes).size).toBe(boxes.length);
  });

  it("keeps siblings in their parents' order, so a tree reads like a tree", () => {
    const at = positions(tree(15));
    const y = (id: string) => at.get(id)!.y;
    // Column 1 holds t1 above t2; column 2 t1's child t3 above t2's t4 and t5; column 3 t3's children above t4's.
    expect(y("t1")).toBeLessThan(y("t2"));
    expect(y("t3")).toBeLessThan(Math.min(y("t4"), y("t5")));
    expect(Math.max(y("t6"), y("t7"))).toBeLessThan(Math.min(y("t8"), y("t9")));
  });

  it("places the nodes of a cycle after the rest instead of failing", () => {
    const def: Definition = {
      nodes: ["start", "a", "b"].map((id) => ({ id, type: id === "start" ? "trigger.manual" : "transform", config: {} })),
      edges: [
        { source: "start", target: "a" },
        { source: "a", target: "b" },
        { source: "b", target: "a" },
      ],
    };
    const at = positions(def);
    expect(at.size).toBe(3);
    expect(at.get("a")!.x).toBeGreaterThan(at.get("start")!.x);
    expect(at.get("b")!.x).toBeGreaterThan(at.get("start")!.x);
  });

  it("is what layoutGraph uses above LARGE_GRAPH nodes (dagre below)", () => {
    const big = tree(LARGE_GRAPH + 1);
    expect(positions(big, layoutGraph)).toEqual(positions(big, layeredLayout));
    const small = tree(20);
    expect(positions(small, layoutGraph)).not.toEqual(positions(small, layeredLayout));
  });
});
