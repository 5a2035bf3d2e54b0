// Auto-layout with dagre: left to right, in the order edges leave each node.
import dagre from "@dagrejs/dagre";
import type { StepEdge, StepNode } from "./definition";

export const NODE_WIDTH = 200;
export const NODE_HEIGHT = 72;
/** Zoom-to-fit that never magnifies a small graph. */
export const FIT_VIEW = { maxZoom: 1, padding: 0.15 };
/** Above this many nodes the canvas renders only the visible ones. */
export const LARGE_GRAPH = 200;

export function layoutGraph(nodes: readonly StepNode[], edges: readonly StepEdge[]): StepNode[] {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 40, ranksep: 80 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const e of edges) if (g.hasNode(e.source) && g.hasNode(e.target)) g.setEdge(e.source, e.target);
  dagre.layout(g);
  return nodes.map((n) => {
    const p = g.node(n.id);
    return p ? { ...n, position: { x: Math.round(p.x - NODE_WIDTH / 2), y: Math.round(p.y - NODE_HEIGHT / 2) } } : n;
  });
}
