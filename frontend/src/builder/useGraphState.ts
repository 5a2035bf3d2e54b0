// The graph on the canvas: React Flow's nodes and edges (laid out on open when the draft has no positions), the
// definition they stand for, and the keys the builder compares it by.
import { useEdgesState, useNodesState } from "@xyflow/react";
import { useMemo } from "react";
import { graphToDefinition, type Definition, type StepEdge, type StepNode, type TypeInfo } from "../lib/definition";
import { openGraph, semanticKey } from "../lib/graphEdits";

export function useGraphState(draft: Definition, info: TypeInfo) {
  // React Flow's state hooks read their initial value once: the graph as the workflow opened.
  const initial = useMemo(() => openGraph(draft, info), [draft, info]);
  const [nodes, setNodes, onNodesChange] = useNodesState<StepNode>(initial.nodes);
  const [edges, setEdges, onEdgesChange] = useEdgesState<StepEdge>(initial.edges);
  const definition = useMemo(() => graphToDefinition(nodes, edges), [nodes, edges]);
  /** The whole definition, positions included: what saving and the history compare. */
  const fullKey = useMemo(() => JSON.stringify(definition), [definition]);
  /** The definition without positions: validation and what a node can read follow it, not every drag frame. */
  const validationKey = useMemo(() => semanticKey(definition), [definition]);
  return { nodes, edges, setNodes, setEdges, onNodesChange, onEdgesChange, definition, fullKey, validationKey };
}

export type GraphState = ReturnType<typeof useGraphState>;
