// The node the inspector shows: React Flow's first selected node, or the one an edit just added or renamed.
import type { OnSelectionChangeParams } from "@xyflow/react";
import { useCallback, useState, type Dispatch, type SetStateAction } from "react";
import type { StepEdge, StepNode } from "../lib/definition";

export type Select = Dispatch<SetStateAction<string | null>>;

export function useSelection(nodes: readonly StepNode[]) {
  const [selectedId, select] = useState<string | null>(null);
  const selected = nodes.find((n) => n.id === selectedId);
  const onSelectionChange = useCallback(
    ({ nodes: picked }: OnSelectionChangeParams<StepNode, StepEdge>) => select(picked[0]?.id ?? null),
    [],
  );
  return { selectedId, selected, select, onSelectionChange };
}
