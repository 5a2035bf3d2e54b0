// The real node registry (studio_shared/schemas/nodes), shaped like the `nodeTypes` query answers.
import type { NodeTypeInfo } from "../api/types";

interface RegistryFile {
  type: string;
  title: string;
  category: string;
  color?: string;
  icon?: string;
  description: string;
  config_schema: Record<string, unknown>;
  output_schema?: Record<string, unknown>;
  branches: string[];
  dynamic_branches?: string;
  trigger?: boolean;
}

const files = import.meta.glob<RegistryFile>("../../../studio_shared/schemas/nodes/*.json", {
  eager: true,
  import: "default",
});

export const registry: NodeTypeInfo[] = Object.values(files).map((f) => ({
  type: f.type,
  title: f.title,
  category: f.category,
  description: f.description,
  icon: f.icon ?? "",
  color: f.color ?? "#64748b",
  configSchema: f.config_schema,
  outputSchema: f.output_schema ?? null,
  branches: f.branches,
  dynamicBranches: f.dynamic_branches ?? null,
  trigger: !!f.trigger,
}));

export function nodeType(type: string): NodeTypeInfo {
  const found = registry.find((t) => t.type === type);
  if (!found) throw new Error(`no node type ${type} in the registry`);
  return found;
}
