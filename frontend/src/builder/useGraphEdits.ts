// Every edit of the canvas graph the builder makes besides React Flow's own (moving, selecting, deleting by key):
// each updates the nodes, the edges and the inspector's selection together.
import { addEdge, useReactFlow, useStoreApi, type Connection } from "@xyflow/react";
import { useCallback } from "react";
import type { NodeTypeInfo } from "../api/types";
import {
  definitionToGraph,
  newNodeId,
  renameNode,
  type DefEdge,
  type DefNode,
  type Definition,
  type StepEdge,
  type StepNode,
  type TypeInfo,
} from "../lib/definition";
import {
  addSelected,
  connectionEdge,
  deselected,
  newStepNode,
  restoreEdges,
  restoreNodes,
  withConfig,
  withLabel,
} from "../lib/graphEdits";
import { FIT_VIEW, layoutGraph } from "../lib/layout";
import { placeInView, visibleRect } from "../lib/placement";
import type { GraphState } from "./useGraphState";
import type { Select } from "./useSelection";

export interface Catalog {
  info: TypeInfo;
  byType: ReadonlyMap<string, NodeTypeInfo>;
}

export function useGraphEdits(graph: GraphState, select: Select, { info, byType }: Catalog) {
  const { nodes, edges, setNodes, setEdges } = graph;
  const flow = useReactFlow<StepNode, StepEdge>();
  const store = useStoreApi<StepNode, StepEdge>();

  /** Adds a node of `type` (where it was dropped, else on a free spot in view) and selects it. */
  const addNode = useCallback(
    (type: string, position?: { x: number; y: number }) => {
      const nodeType = byType.get(type);
      if (!nodeType) return;
      const id = newNodeId(type, nodes.map((n) => n.id));
      const { width, height, transform } = store.getState();
      const node = newStepNode(id, nodeType, info, position ?? placeInView(nodes, visibleRect(width, height, transform)));
      setNodes((ns) => addSelected(ns, [node]));
      select(id);
    },
    [byType, info, nodes, setNodes, select, store],
  );

  /** Draws an edge (once: the same connection again changes nothing). */
  const connect = useCallback(
    (c: Connection) => {
      const edge = connectionEdge(c);
      if (edge) setEdges((es) => (es.some((e) => e.id === edge.id) ? es : addEdge(edge, es)));
    },
    [setEdges],
  );

  /** Puts a history state on the canvas; nodes that stay keep their selection, measurements and problems. */
  const restore = useCallback(
    (def: Definition) => {
      const g = definitionToGraph(def, info);
      setNodes((current) => restoreNodes(current, g.nodes));
      setEdges((current) => restoreEdges(current, g.edges));
      select((id) => (id && def.nodes.some((n) => n.id === id) ? id : null));
    },
    [info, setNodes, setEdges, select],
  );

  /** Adds pasted nodes and edges, the nodes selected (the first in the inspector). */
  const insert = useCallback(
    (pasted: { nodes: DefNode[]; edges: DefEdge[] }) => {
      const g = definitionToGraph(pasted, info);
      setNodes((ns) => addSelected(ns, g.nodes));
      setEdges((es) => [...deselected(es), ...g.edges]);
      select(g.nodes[0]?.id ?? null);
    },
    [info, setNodes, setEdges, select],
  );

  /** Renames a node with its edges; false when the id is invalid or taken. */
  const rename = (id: string, to: string): boolean => {
    const renamed = renameNode(nodes, edges, id, to);
    if (!renamed) return false;
    setNodes(renamed.nodes);
    setEdges(renamed.edges);
    select(to);
    return true;
  };

  const update = (id: string, change: (n: StepNode) => StepNode) =>
    setNodes((ns) => ns.map((n) => (n.id === id ? change(n) : n)));

  return {
    addNode,
    connect,
    restore,
    insert,
    rename,
    setLabel: (id: string, label: string) => update(id, (n) => withLabel(n, label)),
    setConfig: (id: string, config: Record<string, unknown>) => update(id, (n) => withConfig(n, config, info)),
    /** Removes a node and its edges. */
    remove: (id: string) => {
      setNodes((ns) => ns.filter((n) => n.id !== id));
      setEdges((es) => es.filter((e) => e.source !== id && e.target !== id));
      select(null);
    },
    disconnect: (edgeId: string) => setEdges((es) => es.filter((e) => e.id !== edgeId)),
    /** Lays the graph out along its edges and fits it into view. */
    autoLayout: () => {
      setNodes((ns) => layoutGraph(ns, edges));
      requestAnimationFrame(() => void flow.fitView(FIT_VIEW));
    },
  };
}

export type GraphEdits = ReturnType<typeof useGraphEdits>;
