// What the builder looks up about node types, from the registry's `nodeTypes`: titles and branches, each type by
// name, and the schema defaults of its config.
import { useMemo } from "react";
import type { NodeTypeInfo } from "../api/types";
import { schemaDefaults } from "../lib/graphEdits";
import { typeInfo } from "../lib/nodeTypes";

export function useCatalog(types: readonly NodeTypeInfo[]) {
  return useMemo(() => {
    const defaults = new Map(types.map((t) => [t.type, schemaDefaults(t.configSchema)]));
    return {
      info: typeInfo(types),
      byType: new Map(types.map((t) => [t.type, t])) as ReadonlyMap<string, NodeTypeInfo>,
      defaultsOf: (type: string) => defaults.get(type) ?? {},
    };
  }, [types]);
}
