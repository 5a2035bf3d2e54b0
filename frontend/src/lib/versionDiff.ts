// What changed between two workflow definitions (two published versions, or a version and the draft). Pure.
// Positions and the viewport are the builder's layout, not behaviour: moving a node is not a change.
import type { DefEdge, DefNode, Definition } from "./definition";

export interface NodeChange {
  id: string;
  /** Set when the node type differs. */
  type?: { from: string; to: string };
  /** Config keys whose values differ (added, removed or changed), sorted. */
  configKeys: string[];
  /** Node-level keys besides config (label, notes, retry, timeout_s, on_error) that differ, sorted. */
  fields: string[];
}

export interface DefinitionDiff {
  addedNodes: DefNode[];
  removedNodes: DefNode[];
  changedNodes: NodeChange[];
  addedEdges: DefEdge[];
  removedEdges: DefEdge[];
}

/** JSON with object keys sorted, so key order never counts as a difference. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function differentKeys(a: Record<string, unknown>, b: Record<string, unknown>, skip: ReadonlySet<string>): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => !skip.has(k) && canonical(a[k]) !== canonical(b[k])).sort();
}

const NOT_FIELDS = new Set(["id", "type", "config", "position"]);

/** An edge's identity: source, branch and target (its optional `id` is bookkeeping). */
export function edgeKey(e: DefEdge): string {
  return `${e.source}\u0000${e.branch ?? ""}\u0000${e.target}`;
}

/** The differences from `before` to `after`, in `after`'s order (removals in `before`'s order). */
export function diffDefinitions(before: Definition, after: Definition): DefinitionDiff {
  const old = new Map(before.nodes.map((n) => [n.id, n]));
  const now = new Map(after.nodes.map((n) => [n.id, n]));
  const addedNodes = after.nodes.filter((n) => !old.has(n.id));
  const removedNodes = before.nodes.filter((n) => !now.has(n.id));
  const changedNodes: NodeChange[] = [];
  for (const n of after.nodes) {
    const o = old.get(n.id);
    if (!o) continue;
    const change: NodeChange = {
      id: n.id,
      configKeys: differentKeys(o.config ?? {}, n.config ?? {}, new Set()),
      fields: differentKeys(o as unknown as Record<string, unknown>, n as unknown as Record<string, unknown>, NOT_FIELDS),
    };
    if (o.type !== n.type) change.type = { from: o.type, to: n.type };
    if (change.type || change.configKeys.length || change.fields.length) changedNodes.push(change);
  }
  const oldEdges = new Set((before.edges ?? []).map(edgeKey));
  const newEdges = new Set((after.edges ?? []).map(edgeKey));
  const unique = (edges: DefEdge[]) => {
    const seen = new Set<string>();
    return edges.filter((e) => !seen.has(edgeKey(e)) && !!seen.add(edgeKey(e)));
  };
  return {
    addedNodes,
    removedNodes,
    changedNodes,
    addedEdges: unique((after.edges ?? []).filter((e) => !oldEdges.has(edgeKey(e)))),
    removedEdges: unique((before.edges ?? []).filter((e) => !newEdges.has(edgeKey(e)))),
  };
}

export function isEmptyDiff(d: DefinitionDiff): boolean {
  return !(
    d.addedNodes.length ||
    d.removedNodes.length ||
    d.changedNodes.length ||
    d.addedEdges.length ||
    d.removedEdges.length
  );
}

/** "a → b (true)" for lists. */
export function describeEdge(e: DefEdge): string {
  return `${e.source} → ${e.target}${e.branch ? ` (${e.branch})` : ""}`;
}
