// Graph ⇄ definition: React Flow nodes/edges to the workflow definition (workflow.schema.json) and back.
// An edge's `branch` is React Flow's `sourceHandle`; a node without branches has one default (null) handle.
import type { Edge, Node } from "@xyflow/react";

export interface Position {
  x: number;
  y: number;
}

export interface DefNode {
  id: string;
  type: string;
  config?: Record<string, unknown>;
  position?: Position;
  label?: string;
  notes?: string;
  retry?: Record<string, unknown>;
  timeout_s?: number;
  on_error?: "fail" | "continue";
}

export interface DefEdge {
  id?: string;
  source: string;
  target: string;
  branch?: string | null;
}

export interface Definition {
  nodes: DefNode[];
  edges?: DefEdge[];
  viewport?: { x?: number; y?: number; zoom?: number };
}

/** Node-level keys besides id/type/config/position, kept verbatim through the builder. */
export type NodeExtras = Omit<DefNode, "id" | "type" | "config" | "position">;

export interface Problem {
  message: string;
  field: string[]; // path inside the node's config; [] for the node itself
  code: string;
  /** A warning is shown but blocks nothing; absent means an error. */
  warning?: boolean;
}

/** The errors among problems (warnings left out). */
export function errorsOf<P extends { warning?: boolean }>(problems: readonly P[]): P[] {
  return problems.filter((p) => !p.warning);
}

/** The warnings among problems. */
export function warningsOf<P extends { warning?: boolean }>(problems: readonly P[]): P[] {
  return problems.filter((p) => p.warning);
}

export type StepNodeData = {
  nodeType: string;
  title: string;
  config: Record<string, unknown>;
  extras: NodeExtras;
  branches: string[];
  problems: Problem[];
  status?: string;
  /** The run monitor: what a finished branching step chose ("→ rejected"). */
  outcome?: string;
  /** The builder: the node's output in the last test run (JSON text), shown inline under it. */
  output?: string;
  /** The builder: the draft pins this node's output (test runs use the pin instead of running it). */
  pinned?: boolean;
  /** The type's icon (SVG path data) and its category's colour, from the registry. */
  icon?: string;
  color?: string;
};

export type StepNode = Node<StepNodeData, "step">;
/** `state`: the run monitor's taken or skipped branch; `route`: the lane the canvas draws the edge along. */
export type StepEdge = Edge<{ defId?: string; state?: string; route?: { laneY: number; back: boolean } }>;

/** How a node type is drawn: its icon (the `d` of an SVG path on a 24 x 24 grid) and its category's colour. */
export interface NodeLook {
  icon: string;
  color: string;
}

/** Looks up a node type's title, its branch names for a config, and how it is drawn. */
export interface TypeInfo {
  title(type: string): string;
  branches(type: string, config: Record<string, unknown>): string[];
  look?(type: string): NodeLook | undefined;
}

export function edgeId(source: string, branch: string | null | undefined, target: string): string {
  return `${source}:${branch ?? ""}->${target}`;
}

/** A definition as React Flow elements; nodes without a position get (0, 0) and `needsLayout` is true. */
export function definitionToGraph(
  def: Definition,
  types: TypeInfo,
): { nodes: StepNode[]; edges: StepEdge[]; needsLayout: boolean } {
  let needsLayout = false;
  const nodes: StepNode[] = (def.nodes ?? []).map((n) => {
    const { id, type, config, position, ...extras } = n;
    if (!position) needsLayout = true;
    const cfg = config ?? {};
    return {
      id,
      type: "step",
      position: position ? { x: position.x, y: position.y } : { x: 0, y: 0 },
      data: {
        nodeType: type,
        title: types.title(type),
        config: cfg,
        extras,
        branches: types.branches(type, cfg),
        problems: [],
        ...types.look?.(type),
      },
    };
  });
  const edges: StepEdge[] = (def.edges ?? []).map((e) => {
    const branch = e.branch ?? null;
    const edge: StepEdge = {
      id: e.id ?? edgeId(e.source, branch, e.target),
      source: e.source,
      target: e.target,
      sourceHandle: branch,
      data: e.id ? { defId: e.id } : {},
    };
    if (branch) edge.label = branch;
    return edge;
  });
  return { nodes, edges, needsLayout };
}

/** React Flow elements as a definition; positions are rounded (the builder's pixels, not data). */
export function graphToDefinition(
  nodes: readonly StepNode[],
  edges: readonly StepEdge[],
  viewport?: Definition["viewport"],
): Definition {
  const def: Definition = {
    nodes: nodes.map((n) => {
      const out: DefNode = { id: n.id, type: n.data.nodeType, config: n.data.config };
      Object.assign(out, n.data.extras);
      out.position = { x: Math.round(n.position.x), y: Math.round(n.position.y) };
      return out;
    }),
    edges: edges.map((e) => {
      const out: DefEdge = { source: e.source, target: e.target };
      if (e.data?.defId) out.id = e.data.defId;
      if (e.sourceHandle) out.branch = e.sourceHandle;
      return out;
    }),
  };
  if (viewport) def.viewport = viewport;
  return def;
}

/** The first free id like `condition_1` for a new node of `type` (ids match ^[A-Za-z_][A-Za-z0-9_-]*$). */
export function newNodeId(type: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  let base = type.replace(/[^A-Za-z0-9_-]+/g, "_").replace(/^[^A-Za-z_]+/, "");
  if (!base) base = "node";
  base = base.slice(0, 56);
  for (let i = 1; ; i++) {
    const candidate = `${base}_${i}`;
    if (!used.has(candidate)) return candidate;
  }
}

export const NODE_ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

/** Renames a node and every edge that touches it; returns null when the id is invalid or taken. */
export function renameNode(
  nodes: readonly StepNode[],
  edges: readonly StepEdge[],
  from: string,
  to: string,
): { nodes: StepNode[]; edges: StepEdge[] } | null {
  if (from === to) return { nodes: [...nodes], edges: [...edges] };
  if (!NODE_ID_PATTERN.test(to) || nodes.some((n) => n.id === to)) return null;
  return {
    nodes: nodes.map((n) => (n.id === from ? { ...n, id: to } : n)),
    edges: edges.map((e) => {
      if (e.source !== from && e.target !== from) return e;
      const source = e.source === from ? to : e.source;
      const target = e.target === from ? to : e.target;
      return { ...e, source, target, id: e.data?.defId ?? edgeId(source, e.sourceHandle, target) };
    }),
  };
}
