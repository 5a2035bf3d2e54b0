// The canvas a workflow is drawn on, in the builder and the run monitor: step nodes, fitted into view (never
// magnified), a background, zoom controls and a mini map; beyond LARGE_GRAPH nodes only the visible ones render.
import { Background, Controls, MiniMap, ReactFlow, type ReactFlowProps } from "@xyflow/react";
import type { StepEdge, StepNode } from "../lib/definition";
import { FIT_VIEW, LARGE_GRAPH } from "../lib/layout";
import { nodeTypes } from "./StepNodeView";

export type StepGraphProps = ReactFlowProps<StepNode, StepEdge> & {
  nodes: StepNode[];
  /** The mini map's fill per node (the run monitor colours it by status). */
  minimapColor?: (node: StepNode) => string;
};

export function StepGraph({ minimapColor, ...props }: StepGraphProps) {
  return (
    <ReactFlow<StepNode, StepEdge>
      nodeTypes={nodeTypes}
      onlyRenderVisibleElements={props.nodes.length > LARGE_GRAPH}
      fitView
      fitViewOptions={FIT_VIEW}
      minZoom={0.05}
      {...props}
    >
      <Background />
      <Controls />
      <MiniMap pannable zoomable ariaLabel="Mini map" nodeColor={minimapColor} />
    </ReactFlow>
  );
}
