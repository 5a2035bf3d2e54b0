import { describe, expect, it } from "vitest";
import type { StepEdge, StepNode } from "./definition";
import { TURN, lanePath, routeEdges } from "./edgeRoutes";
import { NODE_HEIGHT, NODE_WIDTH, layoutGraph } from "./layout";

const node = (id: string, x: number, y: number, branches: string[] = []): StepNode => ({
  id,
  type: "step",
  position: { x, y },
  data: { nodeType: "transform", title: id, config: {}, extras: {}, branches, problems: [] },
});
const edge = (source: string, target: string, branch?: string): StepEdge => ({
  id: `${source}:${branch ?? ""}->${target}`,
  source,
  target,
  sourceHandle: branch ?? null,
});

/** Points along a routed edge's corners, and between them, every 4 px. */
function walk(sx: number, sy: number, tx: number, ty: number, laneY: number): { x: number; y: number }[] {
  const corners = [
    [sx, sy],
    [sx + TURN, sy],
    [sx + TURN, laneY],
    [tx - TURN, laneY],
    [tx - TURN, ty],
    [tx, ty],
  ] as const;
  const out = [];
  for (let i = 1; i < corners.length; i++) {
    const [x1, y1] = corners[i - 1]!;
    const [x2, y2] = corners[i]!;
    const steps = Math.max(1, Math.ceil(Math.hypot(x2 - x1, y2 - y1) / 4));
    for (let k = 0; k <= steps; k++) out.push({ x: x1 + ((x2 - x1) * k) / steps, y: y1 + ((y2 - y1) * k) / steps });
  }
  return out;
}

const inside = (p: { x: number; y: number }, n: StepNode) =>
  p.x > n.position.x + 1 && p.x < n.position.x + NODE_WIDTH - 1 && p.y > n.position.y + 1 && p.y < n.position.y + NODE_HEIGHT - 1;

function assertAround(nodes: StepNode[], edges: StepEdge[], routes: ReturnType<typeof routeEdges>) {
  for (const e of edges) {
    const route = routes.get(e.id);
    if (!route) continue;
    const s = nodes.find((n) => n.id === e.source)!;
    const t = nodes.find((n) => n.id === e.target)!;
    const sy = s.position.y + NODE_HEIGHT / 2;
    const ty = t.position.y + NODE_HEIGHT / 2;
    for (const p of walk(s.position.x + NODE_WIDTH, sy, t.position.x, ty, route.laneY)) {
      for (const n of nodes) {
        if (route.back || (n.id !== e.source && n.id !== e.target)) expect(inside(p, n), `${e.id} crosses ${n.id} at ${p.x},${p.y}`).toBe(false);
      }
    }
  }
}

describe("routeEdges", () => {
  it("leaves edges alone when nothing is in their way", () => {
    const nodes = [node("a", 0, 0), node("b", 300, 0), node("c", 300, 150)];
    expect(routeEdges(nodes, [edge("a", "b"), edge("a", "c")]).size).toBe(0);
  });

  it("routes an edge that skips a column around the node in between", () => {
    const nodes = [node("start", 0, 0), node("check", 300, 0), node("notify", 600, 0)];
    const edges = [edge("start", "check"), edge("check", "notify"), edge("start", "notify")];
    const routes = routeEdges(nodes, edges);
    expect([...routes.keys()]).toEqual(["start:->notify"]);
    const lane = routes.get("start:->notify")!;
    expect(lane.back).toBe(false);
    expect(lane.laneY < 0 || lane.laneY > NODE_HEIGHT).toBe(true);
    assertAround(nodes, edges, routes);
  });

  it("draws a back edge (a cycle in a draft) around its nodes, below them", () => {
    const nodes = [node("a", 0, 0), node("b", 300, 0), node("c", 600, 0)];
    const edges = [edge("a", "b"), edge("b", "c"), edge("c", "a")];
    const routes = routeEdges(nodes, edges);
    const back = routes.get("c:->a")!;
    expect(back.back).toBe(true);
    expect(back.laneY).toBeGreaterThan(NODE_HEIGHT);
    assertAround(nodes, edges, routes);
  });

  it("keeps every routed edge of a laid-out graph out of the nodes", () => {
    // A diamond with a skip and a cycle, as auto-layout places it.
    const raw = [node("start", 0, 0), node("check", 0, 0, ["true", "false"]), node("ok", 0, 0), node("no", 0, 0), node("end", 0, 0)];
    const edges = [
      edge("start", "check"),
      edge("check", "ok", "true"),
      edge("check", "no", "false"),
      edge("ok", "end"),
      edge("no", "end"),
      edge("start", "end"),
      edge("end", "check"),
    ];
    const nodes = layoutGraph(raw, edges);
    const routes = routeEdges(nodes, edges);
    expect(routes.get("end:->check")?.back).toBe(true);
    assertAround(nodes, edges, routes);
  });

  it("draws the lane with rounded corners and its label on the lane", () => {
    const { path, labelX, labelY } = lanePath(100, 10, 400, 20, 200);
    expect(path.startsWith("M100,10")).toBe(true);
    expect(path.endsWith("L400,20")).toBe(true);
    expect(path.match(/Q/g)?.length).toBe(4);
    expect([labelX, labelY]).toEqual([250, 200]);
  });
});
