// Auto-layout with dagre: left to right, in the order edges leave each node.
import dagre from "@dagrejs/dagre";
import type { StepEdge, StepNode } from "./definition";

export const NODE_WIDTH = 220;
export const NODE_HEIGHT = 72;
/** Zoom-to-fit that never magnifies a small graph. */
export const FIT_VIEW = { maxZoom: 1, padding: 0.15 };
/** Above this many nodes the canvas renders only the visible ones. */
export const LARGE_GRAPH = 200;

/** Left-to-right positions for every node: dagre (fewest crossings) up to LARGE_GRAPH nodes, the layered layout
 * beyond (dagre takes 0.6 to 1.7 s for 1,000 nodes here, which a large workflow would wait for on every open). */
export function layoutGraph(nodes: readonly StepNode[], edges: readonly StepEdge[]): StepNode[] {
  return nodes.length > LARGE_GRAPH ? layeredLayout(nodes, edges) : dagreLayout(nodes, edges);
}

/**
 * A layered layout in linear time: each node's column is its longest path from a source, and within a column nodes
 * follow the mean row of their parents (one barycentre pass), so a tree reads like a tree. Nodes on a cycle (a draft
 * may have one) go in a column after the rest.
 */
export function layeredLayout(nodes: readonly StepNode[], edges: readonly StepEdge[]): StepNode[] {
  const count = nodes.length;
  const index = new Map(nodes.map((n, i) => [n.id, i]));
  const parents: number[][] = Array.from({ length: count }, () => []);
  const children: number[][] = Array.from({ length: count }, () => []);
  for (const e of edges) {
    const s = index.get(e.source);
    const t = index.get(e.target);
    if (s === undefined || t === undefined || s === t) continue;
    children[s]!.push(t);
    parents[t]!.push(s);
  }
  // Kahn's algorithm: a node's rank is one more than its highest parent's.
  const rank = new Int32Array(count);
  const waiting = Int32Array.from(parents, (p) => p.length);
  const order: number[] = [];
  for (let i = 0; i < count; i++) if (waiting[i] === 0) order.push(i);
  for (let head = 0; head < order.length; head++) {
    const i = order[head]!;
    for (const c of children[i]!) {
      rank[c] = Math.max(rank[c]!, rank[i]! + 1);
      if (--waiting[c]! === 0) order.push(c);
    }
  }
  if (order.length < count) {
    const placed = new Set(order);
    const after = Math.max(0, ...rank) + 1;
    for (let i = 0; i < count; i++) {
      if (placed.has(i)) continue;
      rank[i] = after;
      order.push(i);
    }
  }
  const columns: number[][] = [];
  for (const i of order) (columns[rank[i]!] ??= []).push(i);
  const row = new Float64Array(count);
  const mean = (i: number) => {
    const p = parents[i]!;
    return p.length ? p.reduce((sum, q) => sum + row[q]!, 0) / p.length : i;
  };
  for (const column of columns) {
    if (!column) continue;
    const key = new Map(column.map((i) => [i, mean(i)]));
    column.sort((a, b) => key.get(a)! - key.get(b)! || a - b);
    for (const [r, i] of column.entries()) row[i] = r;
  }
  const tallest = Math.max(1, ...columns.map((c) => c?.length ?? 0));
  return nodes.map((n, i) => {
    const column = rank[i]!;
    const offset = ((tallest - (columns[column]?.length ?? 0)) * (NODE_HEIGHT + 40)) / 2; // columns centred on one another
    return { ...n, position: { x: column * (NODE_WIDTH + 80), y: Math.round(offset + row[i]! * (NODE_HEIGHT + 40)) } };
  });
}

function dagreLayout(nodes: readonly StepNode[], edges: readonly StepEdge[]): StepNode[] {
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
