// An edge as the builder draws it: React Flow's bezier when nothing is in the way, else along the lane that
// lib/edgeRoutes.ts found for it (around the nodes); a back edge is dashed in the warning colour (CSS `.back-edge`).
import { BaseEdge, getBezierPath, type EdgeProps } from "@xyflow/react";
import { memo } from "react";
import type { StepEdge } from "../lib/definition";
import { lanePath } from "../lib/edgeRoutes";

function RoutedEdgeImpl(props: EdgeProps<StepEdge>) {
  const { sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, data, label, markerEnd, style, interactionWidth } = props;
  const route = data?.route;
  const [path, labelX, labelY] = route
    ? (({ path: p, labelX: x, labelY: y }) => [p, x, y] as const)(lanePath(sourceX, sourceY, targetX, targetY, route.laneY))
    : getBezierPath({ sourceX, sourceY, sourcePosition, targetX, targetY, targetPosition });
  return (
    <BaseEdge
      id={props.id}
      path={path}
      label={label}
      labelX={labelX}
      labelY={labelY}
      labelStyle={props.labelStyle}
      labelShowBg={props.labelShowBg}
      labelBgStyle={props.labelBgStyle}
      labelBgPadding={props.labelBgPadding}
      labelBgBorderRadius={props.labelBgBorderRadius}
      markerEnd={markerEnd}
      style={style}
      interactionWidth={interactionWidth}
    />
  );
}

export const RoutedEdge = memo(RoutedEdgeImpl);
export const edgeTypes = { routed: RoutedEdge };
