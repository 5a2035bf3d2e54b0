// The builder's canvas: React Flow over the graph, a drop target for palette entries; editable or read-only.
import {
  useReactFlow,
  type Connection,
  type OnEdgesChange,
  type OnNodesChange,
  type OnSelectionChangeFunc,
} from "@xyflow/react";
import type { DragEvent } from "react";
import { DRAG_MIME } from "../components/Palette";
import { StepGraph } from "../components/StepGraph";
import type { StepEdge, StepNode } from "../lib/definition";

export interface BuilderCanvasProps {
  nodes: StepNode[];
  edges: StepEdge[];
  editable: boolean;
  onNodesChange: OnNodesChange<StepNode>;
  onEdgesChange: OnEdgesChange<StepEdge>;
  onConnect: (c: Connection) => void;
  onSelectionChange: OnSelectionChangeFunc<StepNode, StepEdge>;
  onDragStart: () => void;
  onDragStop: () => void;
  /** A palette entry dropped at a point of the graph. */
  onDropType: (type: string, position: { x: number; y: number }) => void;
}

export function BuilderCanvas({ nodes, edges, editable, onDragStart, onDragStop, onDropType, ...handlers }: BuilderCanvasProps) {
  const flow = useReactFlow<StepNode, StepEdge>();
  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    const type = event.dataTransfer.getData(DRAG_MIME);
    if (type) onDropType(type, flow.screenToFlowPosition({ x: event.clientX, y: event.clientY }));
  };
  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: the drop target of the palette's drag; from the keyboard, pressing a palette entry adds the node
    <div className="relative min-w-0 flex-1" onDragOver={(e) => e.preventDefault()} onDrop={onDrop} data-testid="canvas">
      <StepGraph
        nodes={nodes}
        edges={edges}
        {...handlers}
        onNodeDragStart={onDragStart}
        onNodeDragStop={onDragStop}
        onSelectionDragStart={onDragStart}
        onSelectionDragStop={onDragStop}
        nodesDraggable={editable}
        nodesConnectable={editable}
        deleteKeyCode={editable ? ["Backspace", "Delete"] : null}
      />
    </div>
  );
}
