// The edges as the canvas draws them: each with its lane around the nodes (lib/edgeRoutes.ts), an arrowhead, and
// `back-edge` when it goes back to an earlier node. An edge whose input and route did not change keeps its object,
// so React Flow redraws only the edges a drag moved.
import { MarkerType } from "@xyflow/react";
import { useMemo, useRef } from "react";
import type { StepEdge, StepNode } from "./definition";
import { routeEdges, type EdgeRoute } from "./edgeRoutes";

/** An arrowhead in the edge's own colour (the run monitor colours taken edges); its size follows the stroke's width. */
function arrow(edge: StepEdge) {
  const stroke = edge.style?.stroke;
  return { type: MarkerType.ArrowClosed, width: 12, height: 12, color: typeof stroke === "string" ? stroke : "var(--edge)" };
}

interface Drawn {
  input: StepEdge;
  route: EdgeRoute | undefined;
  output: StepEdge;
}

export function drawEdge(edge: StepEdge, route: EdgeRoute | undefined): StepEdge {
  const className = [edge.className, route?.back ? "back-edge" : null].filter(Boolean).join(" ") || undefined;
  return { ...edge, type: "routed", markerEnd: edge.markerEnd ?? arrow(edge), className, data: { ...edge.data, route } };
}

export function useRoutedEdges(nodes: readonly StepNode[], edges: readonly StepEdge[]): StepEdge[] {
  const cache = useRef(new Map<string, Drawn>());
  return useMemo(() => {
    const routes = routeEdges(nodes, edges);
    const next = new Map<string, Drawn>();
    const out = edges.map((input) => {
      const route = routes.get(input.id);
      const was = cache.current.get(input.id);
      const same = was && was.input === input && was.route?.laneY === route?.laneY && was.route?.back === route?.back;
      const output = same ? was.output : drawEdge(input, route);
      next.set(input.id, { input, route, output });
      return output;
    });
    cache.current = next;
    return out;
  }, [nodes, edges]);
}
