// The builder's edits of the canvas graph as pure functions of React Flow nodes and edges: the hooks in
// src/builder/ hold the state and call these, so what an edit does is tested without a canvas.
import type { Connection } from "@xyflow/react";
import type { NodeTypeInfo } from "../api/types";
import { definitionToGraph, edgeId, type Definition, type Problem, type StepEdge, type StepNode, type TypeInfo } from "./definition";
import { asObject } from "./json";
import { layoutGraph } from "./layout";

/** How far right of the rightmost node a node added without a position lands. */
export const ADD_SPACING = 260;

/** The graph a draft opens as: laid out when any node has no position. */
export function openGraph(draft: Definition, info: TypeInfo): { nodes: StepNode[]; edges: StepEdge[] } {
  const g = definitionToGraph(draft, info);
  return g.needsLayout ? { nodes: layoutGraph(g.nodes, g.edges), edges: g.edges } : g;
}

/** The definition without positions: what validation depends on. */
export function semanticKey(def: Definition): string {
  return JSON.stringify({ ...def, nodes: def.nodes.map(({ position: _p, ...n }) => n) });
}

/** The `default` of each property of a config schema. */
export function schemaDefaults(schema: unknown): Record<string, unknown> {
  const props = asObject(asObject(schema)?.properties) ?? {};
  return Object.fromEntries(
    Object.entries(props).flatMap(([k, p]) => {
      const prop = asObject(p);
      return prop && "default" in prop ? [[k, prop.default]] : [];
    }),
  );
}

/** Where a node added without a position goes: right of the rightmost node, level with the newest one. */
export function nextNodePosition(nodes: readonly StepNode[]): { x: number; y: number } {
  const last = nodes[nodes.length - 1];
  if (!last) return { x: 0, y: 0 };
  const rightmost = nodes.reduce((m, n) => Math.max(m, n.position.x), -Infinity);
  return { x: rightmost + ADD_SPACING, y: last.position.y };
}

/**
 * What a new node's config starts with: the defaults of its required settings (the form shows a default, so a node
 * that names it nowhere would be refused for a field that looks filled in, e.g. the code node's `language`); nothing
 * else, so the defaults the server applies by itself stay out of the definition.
 */
export function initialConfig(configSchema: unknown): Record<string, unknown> {
  const schema = asObject(configSchema);
  const props = asObject(schema?.properties) ?? {};
  const required = Array.isArray(schema?.required) ? schema.required.map(String) : [];
  const config: Record<string, unknown> = {};
  for (const key of required) {
    const prop = asObject(props[key]);
    if (prop && "default" in prop) config[key] = structuredClone(prop.default);
  }
  return config;
}

/** A new, selected node of a registry type, its config holding the defaults of its required settings only. */
export function newStepNode(id: string, nodeType: NodeTypeInfo, info: TypeInfo, position: { x: number; y: number }): StepNode {
  const config = initialConfig(nodeType.configSchema);
  return {
    id,
    type: "step",
    position,
    selected: true,
    data: {
      nodeType: nodeType.type,
      title: nodeType.title,
      config,
      extras: {},
      branches: info.branches(nodeType.type, config),
      problems: [],
      icon: nodeType.icon,
      color: nodeType.color,
    },
  };
}

/** Nodes or edges with none selected. */
export function deselected<T extends StepNode | StepEdge>(items: readonly T[]): T[] {
  return items.map((x) => (x.selected ? { ...x, selected: false } : x));
}

/** `nodes` with `added` appended as the only selected ones. */
export function addSelected(nodes: readonly StepNode[], added: readonly StepNode[]): StepNode[] {
  return [...deselected(nodes), ...added.map((n) => ({ ...n, selected: true }))];
}

/** The edge a drawn (or keyboard) connection makes; null for a node connected to itself. */
export function connectionEdge(c: Connection): StepEdge | null {
  if (c.source === c.target) return null;
  const branch = c.sourceHandle ?? null;
  const edge: StepEdge = { id: edgeId(c.source, branch, c.target), source: c.source, target: c.target, sourceHandle: branch, data: {} };
  if (branch) edge.label = branch;
  return edge;
}

/** Each node's problems set to `byNode`'s (nodes whose problems stay empty are kept as they are). */
export function withProblems(nodes: StepNode[], byNode: Record<string, Problem[]>): StepNode[] {
  return nodes.map((n) => {
    const problems = byNode[n.id] ?? [];
    if (!problems.length && !n.data.problems.length) return n;
    return { ...n, data: { ...n.data, problems } };
  });
}

/** A history state's nodes on the canvas: nodes that stay keep their selection, measurements and problems. */
export function restoreNodes(current: readonly StepNode[], restored: readonly StepNode[]): StepNode[] {
  const byId = new Map(current.map((n) => [n.id, n]));
  return restored.map((n) => {
    const was = byId.get(n.id);
    return was ? { ...was, position: n.position, data: { ...n.data, problems: was.data.problems } } : n;
  });
}

/** A history state's edges on the canvas: edges that stay keep their selection. */
export function restoreEdges(current: readonly StepEdge[], restored: readonly StepEdge[]): StepEdge[] {
  const selected = new Set(current.filter((e) => e.selected).map((e) => e.id));
  return restored.map((e) => (selected.has(e.id) ? { ...e, selected: true } : e));
}

/** A node's label set (or removed, when empty) among its node-level keys. */
export function withLabel(n: StepNode, label: string): StepNode {
  const { label: _old, ...extras } = n.data.extras;
  return { ...n, data: { ...n.data, extras: label ? { ...extras, label } : extras } };
}

/** A node's config replaced, with the branches that config gives its type. */
export function withConfig(n: StepNode, config: Record<string, unknown>, info: TypeInfo): StepNode {
  return { ...n, data: { ...n.data, config, branches: info.branches(n.data.nodeType, config) } };
}

/** The outgoing edges of a node as the inspector lists them. */
export function outgoingEdges(edges: readonly StepEdge[], id: string): { id: string; target: string; branch: string | null }[] {
  return edges.filter((e) => e.source === id).map((e) => ({ id: e.id, target: e.target, branch: e.sourceHandle ?? null }));
}

/** The nodes a node may connect to: every other node but triggers (nothing connects into a trigger). */
export function connectTargets(
  nodes: readonly StepNode[],
  id: string,
  byType: ReadonlyMap<string, NodeTypeInfo>,
): { id: string; label: string }[] {
  return nodes
    .filter((n) => n.id !== id && !byType.get(n.data.nodeType)?.trigger)
    .map((n) => ({ id: n.id, label: n.data.extras.label || n.data.title }));
}

/** The input schema of the graph's trigger: what the start-run form asks for (none: the run starts at once). */
export function triggerInputSchema(
  nodes: readonly StepNode[],
  byType: ReadonlyMap<string, NodeTypeInfo>,
): Record<string, unknown> | undefined {
  const trigger = nodes.find((n) => byType.get(n.data.nodeType)?.trigger);
  return trigger?.data.config.input_schema as Record<string, unknown> | undefined;
}
