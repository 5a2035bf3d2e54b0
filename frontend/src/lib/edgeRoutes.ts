// Edges drawn around nodes, never through them. React Flow draws an edge as one bezier from its source handle to its
// target handle, whatever lies between: an edge that skips a column (start → notify past check) ran straight
// through the node in between, and an edge back to an earlier node (a cycle: validation refuses it, a draft may
// hold it) curled behind the nodes, out of sight. Here each edge whose bezier would cross a node, and every back
// edge, gets a lane: a horizontal run above or below everything in its way, joined to its handles by short turns
// in the gaps beside them. Pure: positions in, lanes out.
import type { StepEdge, StepNode } from "./definition";
import { NODE_HEIGHT, NODE_WIDTH } from "./layout";

/** How far an edge runs straight out of its source, and into its target, before it turns. */
export const TURN = 20;
/** Space kept between a lane and the nodes it passes. */
export const LANE_GAP = 24;
/** Edges of graphs above this many nodes are not routed (each is checked against the nodes in its span). */
export const MAX_ROUTED_NODES = 300;

export interface EdgeRoute {
  /** The y of the horizontal run. */
  laneY: number;
  /** The edge goes back to a node left of its source. */
  back: boolean;
}

interface Box {
  id: string;
  x: number;
  y: number;
  right: number;
  bottom: number;
}

function boxOf(n: StepNode): Box {
  const width = n.measured?.width ?? n.width ?? NODE_WIDTH;
  const height = n.measured?.height ?? n.height ?? NODE_HEIGHT;
  return { id: n.id, x: n.position.x, y: n.position.y, right: n.position.x + width, bottom: n.position.y + height };
}

/** Where an edge leaves its source: the right side, at its branch's handle (evenly spaced, as the node draws them). */
export function sourcePoint(box: Box, node: StepNode, branch: string | null | undefined): { x: number; y: number } {
  const branches = node.data.branches;
  const index = branch ? branches.indexOf(branch) : -1;
  const height = box.bottom - box.y;
  const y = index >= 0 ? box.y + ((index + 1) * height) / (branches.length + 1) : box.y + height / 2;
  return { x: box.right, y };
}

function targetPoint(box: Box): { x: number; y: number } {
  return { x: box.x, y: (box.y + box.bottom) / 2 };
}

/** Points along React Flow's default bezier between a right-side source and a left-side target. */
function bezierPoints(s: { x: number; y: number }, t: { x: number; y: number }, samples = 24): { x: number; y: number }[] {
  const offset = (d: number) => (d >= 0 ? 0.5 * d : 0.25 * 25 * Math.sqrt(-d));
  const c1 = { x: s.x + offset(t.x - s.x), y: s.y };
  const c2 = { x: t.x - offset(t.x - s.x), y: t.y };
  const out = [];
  for (let i = 1; i < samples; i++) {
    const u = i / samples;
    const a = (1 - u) ** 3;
    const b = 3 * (1 - u) ** 2 * u;
    const c = 3 * (1 - u) * u ** 2;
    const d = u ** 3;
    out.push({ x: a * s.x + b * c1.x + c * c2.x + d * t.x, y: a * s.y + b * c1.y + c * c2.y + d * t.y });
  }
  return out;
}

const hits = (p: { x: number; y: number }, b: Box, pad = 4) => p.x > b.x - pad && p.x < b.right + pad && p.y > b.y - pad && p.y < b.bottom + pad;

/** Whether a horizontal run at `y` from `x1` to `x2` keeps LANE_GAP/2 clear of every box. */
function clearRun(y: number, x1: number, x2: number, boxes: readonly Box[]): boolean {
  const [lo, hi] = x1 < x2 ? [x1, x2] : [x2, x1];
  const gap = LANE_GAP / 2;
  return boxes.every((b) => b.right < lo || b.x > hi || y < b.y - gap || y > b.bottom + gap);
}

/** Whether a vertical run at `x` from `y1` to `y2` misses every box. */
function clearColumn(x: number, y1: number, y2: number, boxes: readonly Box[]): boolean {
  const [lo, hi] = y1 < y2 ? [y1, y2] : [y2, y1];
  return boxes.every((b) => x <= b.x || x >= b.right || hi <= b.y || lo >= b.bottom);
}

/**
 * The lane of each edge that needs one (absent: the plain bezier is clear). Back edges always get one, below or
 * above everything between their ends, the ends included.
 */
export function routeEdges(nodes: readonly StepNode[], edges: readonly StepEdge[]): Map<string, EdgeRoute> {
  const routes = new Map<string, EdgeRoute>();
  if (nodes.length > MAX_ROUTED_NODES) return routes;
  const boxes = nodes.map(boxOf);
  const byId = new Map(nodes.map((n, i) => [n.id, { node: n, box: boxes[i]! }]));
  for (const e of edges) {
    const from = byId.get(e.source);
    const to = byId.get(e.target);
    if (!from || !to || e.source === e.target) continue;
    const s = sourcePoint(from.box, from.node, e.sourceHandle);
    const t = targetPoint(to.box);
    const out = s.x + TURN;
    const into = t.x - TURN;
    const back = into < out;
    const [lo, hi] = back ? [into, out] : [out, into];
    // What lies in the edge's horizontal span; a back edge must also clear its own two nodes.
    const inSpan = boxes.filter((b) => b.right >= lo && b.x <= hi && (back || (b.id !== e.source && b.id !== e.target)));
    if (!back) {
      const blocked = bezierPoints(s, t).some((p) => inSpan.some((b) => hits(p, b)));
      if (!blocked) continue;
    }
    const lane = pickLane(s, t, out, into, inSpan, boxes, back);
    if (lane !== null) routes.set(e.id, { laneY: lane, back });
  }
  return routes;
}

function pickLane(
  s: { x: number; y: number },
  t: { x: number; y: number },
  out: number,
  into: number,
  inSpan: readonly Box[],
  all: readonly Box[],
  back: boolean,
): number | null {
  const candidates = new Set<number>();
  for (const b of inSpan) {
    candidates.add(b.y - LANE_GAP);
    candidates.add(b.bottom + LANE_GAP);
  }
  if (!back) {
    candidates.add(s.y);
    candidates.add(t.y);
  }
  const top = Math.min(s.y, t.y, ...inSpan.map((b) => b.y));
  const bottom = Math.max(s.y, t.y, ...inSpan.map((b) => b.bottom));
  candidates.add(top - LANE_GAP);
  candidates.add(bottom + LANE_GAP);
  const others = (x: number) => all.filter((b) => x > b.x && x < b.right);
  let best: number | null = null;
  let bestCost = Number.POSITIVE_INFINITY;
  for (const y of candidates) {
    if (!clearRun(y, out, into, inSpan)) continue;
    if (!clearColumn(out, s.y, y, others(out)) || !clearColumn(into, y, t.y, others(into))) continue;
    // Shortest detour; a back edge prefers going below (where the eye looks for a loop), ties to the lower lane.
    const cost = Math.abs(y - s.y) + Math.abs(y - t.y) + (back && y < s.y ? 1 : 0);
    if (cost < bestCost || (cost === bestCost && best !== null && y > best)) {
      best = y;
      bestCost = cost;
    }
  }
  return best;
}

/** The SVG path of a routed edge: out of the source, along the lane, into the target, with rounded corners. */
export function lanePath(sx: number, sy: number, tx: number, ty: number, laneY: number, radius = 8): { path: string; labelX: number; labelY: number } {
  const points = [
    { x: sx, y: sy },
    { x: sx + TURN, y: sy },
    { x: sx + TURN, y: laneY },
    { x: tx - TURN, y: laneY },
    { x: tx - TURN, y: ty },
    { x: tx, y: ty },
  ];
  let path = `M${sx},${sy}`;
  for (let i = 1; i < points.length - 1; i++) {
    const prev = points[i - 1]!;
    const here = points[i]!;
    const next = points[i + 1]!;
    const r = Math.min(radius, dist(prev, here) / 2, dist(here, next) / 2);
    const a = toward(here, prev, r);
    const b = toward(here, next, r);
    path += ` L${a.x},${a.y} Q${here.x},${here.y} ${b.x},${b.y}`;
  }
  path += ` L${tx},${ty}`;
  return { path, labelX: (sx + tx) / 2, labelY: laneY };
}

const dist = (a: { x: number; y: number }, b: { x: number; y: number }) => Math.hypot(a.x - b.x, a.y - b.y);

function toward(from: { x: number; y: number }, to: { x: number; y: number }, r: number) {
  const d = dist(from, to);
  return d === 0 ? from : { x: from.x + ((to.x - from.x) * r) / d, y: from.y + ((to.y - from.y) * r) / d };
}
