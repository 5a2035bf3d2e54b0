// The canvas a workflow is drawn on, in the builder and the run monitor: step nodes, edges routed around them
// (back edges shown), fitted into view (never magnified), a background, zoom controls and a mini map in the node
// types' colours (or the run monitor's); beyond LARGE_GRAPH nodes only the visible ones render.
import { Background, Controls, MiniMap, ReactFlow, type ReactFlowProps } from "@xyflow/react";
import type { StepEdge, StepNode } from "../lib/definition";
import { FIT_VIEW, LARGE_GRAPH } from "../lib/layout";
import { useRoutedEdges } from "../lib/useRoutedEdges";
import { edgeTypes } from "./RoutedEdge";
import { nodeTypes } from "./StepNodeView";

export type StepGraphProps = ReactFlowProps<StepNode, StepEdge> & {
  nodes: StepNode[];
  /** The mini map's fill per node (the run monitor colours it by status). */
  minimapColor?: (node: StepNode) => string;
};

/** By default the mini map shows each node in its type's colour (the run monitor passes its status colours). */
const typeColor = (n: StepNode) => n.data.color ?? "var(--muted-foreground)";

export function StepGraph({ minimapColor = typeColor, ...props }: StepGraphProps) {
  const edges = useRoutedEdges(props.nodes, props.edges ?? []);
  return (
    <ReactFlow<StepNode, StepEdge>
      nodeTypes={nodeTypes}
      edgeTypes={edgeTypes}
      onlyRenderVisibleElements={props.nodes.length > LARGE_GRAPH}
      fitView
      fitViewOptions={FIT_VIEW}
      minZoom={0.05}
      {...props}
      edges={edges}
    >
      <Background />
      <Controls />
      <MiniMap pannable zoomable ariaLabel="Mini map" nodeColor={minimapColor} nodeStrokeWidth={0} nodeBorderRadius={4} />
    </ReactFlow>
  );
}
