// The right-hand panel for the selected node: its settings (Inspector), its outgoing connections (EdgeEditor) and
// its test section (TestPanel).
import { useMemo } from "react";
import type { NodeTypeInfo } from "../api/types";
import { EdgeEditor } from "../components/EdgeEditor";
import { Inspector } from "../components/Inspector";
import { McpToolLists } from "../components/McpToolList";
import type { Definition, StepEdge, StepNode } from "../lib/definition";
import { connectTargets, outgoingEdges } from "../lib/graphEdits";
import { templateSuggestions } from "../lib/templatePaths";
import { TestPanel, type TestPanelProps } from "./TestPanel";
import type { GraphEdits } from "./useGraphEdits";

export interface NodePanelProps {
  node: StepNode;
  byType: ReadonlyMap<string, NodeTypeInfo>;
  editable: boolean;
  nodes: readonly StepNode[];
  edges: readonly StepEdge[];
  definition: Definition;
  /** The definition without positions: what the suggestions and targets follow (not every drag frame). */
  validationKey: string;
  edits: GraphEdits;
  /** The node's "Test" section (who may test the draft); without it, none. */
  test?: Omit<TestPanelProps, "nodeId" | "isTrigger">;
}

export function NodePanel({ node, byType, editable, nodes, edges, definition, validationKey, edits, test }: NodePanelProps) {
  const id = node.id;
  // Positions do not change what a node can read, nor which nodes it may connect to (ids, types, labels): both
  // follow the validation key, not every drag frame.
  // biome-ignore lint/correctness/useExhaustiveDependencies: follows validationKey (the definition without positions), not the definition
  const suggestions = useMemo(() => templateSuggestions(definition, id, byType), [validationKey, id, byType]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: follows validationKey (ids, types and labels), not the nodes' positions
  const targets = useMemo(() => connectTargets(nodes, id, byType), [validationKey, id, byType]);
  const outgoing = useMemo(() => outgoingEdges(edges, id), [edges, id]);
  return (
    <Inspector
      node={node}
      nodeType={byType.get(node.data.nodeType)}
      editable={editable}
      suggestions={suggestions}
      onRename={(to) => edits.rename(id, to)}
      onLabel={(label) => edits.setLabel(id, label)}
      onConfig={(config) => edits.setConfig(id, config)}
      onDelete={() => edits.remove(id)}
    >
      <McpToolLists config={node.data.config} editable={editable} />
      <EdgeEditor
        nodeId={id}
        branches={node.data.branches}
        targets={targets}
        outgoing={outgoing}
        editable={editable}
        onConnect={(target, branch) => edits.connect({ source: id, target, sourceHandle: branch, targetHandle: null })}
        onRemove={edits.disconnect}
      />
      {test ? <TestPanel key={id} nodeId={id} isTrigger={!!byType.get(node.data.nodeType)?.trigger} {...test} /> : null}
    </Inspector>
  );
}
