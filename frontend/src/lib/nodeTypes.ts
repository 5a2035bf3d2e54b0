// Node-type helpers: everything the builder knows about a type comes from the registry (`nodeTypes`).
import type { NodeTypeInfo } from "../api/types";
import type { NodeLook, TypeInfo } from "./definition";

/** The outgoing branches of a node: the type's fixed ones, or the config's dynamic ones plus `default`. */
export function branchesOf(nodeType: NodeTypeInfo | undefined, config: Record<string, unknown>): string[] {
  if (!nodeType) return [];
  if (nodeType.dynamicBranches) {
    const raw = config[nodeType.dynamicBranches];
    const cases = Array.isArray(raw) ? raw.filter((c): c is string => typeof c === "string" && c.length > 0) : [];
    return [...new Set([...cases, "default"])];
  }
  return nodeType.branches;
}

export function typeInfo(types: readonly NodeTypeInfo[]): TypeInfo {
  const byType = new Map(types.map((t) => [t.type, t]));
  return {
    title: (type) => byType.get(type)?.title ?? type,
    branches: (type, config) => branchesOf(byType.get(type), config),
    look: (type) => lookOf(byType.get(type)),
  };
}

/** How a node of this type is drawn; none for an unknown type (it is drawn plain, and marked as unknown). */
export function lookOf(nodeType: Pick<NodeTypeInfo, "icon" | "color"> | undefined): NodeLook | undefined {
  return nodeType ? { icon: nodeType.icon, color: nodeType.color } : undefined;
}

/** Palette groups: categories in a stable order (triggers first), types by title within each. */
export function groupByCategory(types: readonly NodeTypeInfo[]): [string, NodeTypeInfo[]][] {
  const groups = new Map<string, NodeTypeInfo[]>();
  for (const t of types) {
    const list = groups.get(t.category) ?? [];
    list.push(t);
    groups.set(t.category, list);
  }
  const rank = (c: string) => (c === "Triggers" ? 0 : 1);
  return [...groups.entries()]
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
    .map(([c, list]) => [c, [...list].sort((x, y) => x.title.localeCompare(y.title))]);
}
