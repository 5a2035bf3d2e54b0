import { MarkerType } from "@xyflow/react";
import { describe, expect, it } from "vitest";
import type { StepEdge } from "./definition";
import { drawEdge } from "./useRoutedEdges";

const edge: StepEdge = { id: "a:->b", source: "a", target: "b", className: "run-edge run-edge-taken", style: { stroke: "var(--success)" } };

describe("drawEdge", () => {
  it("keeps what the page put on the edge (the run monitor's state) and adds the route and an arrow of its colour", () => {
    const drawn = drawEdge(edge, { laneY: 120, back: false });
    expect(drawn.type).toBe("routed");
    expect(drawn.className).toBe("run-edge run-edge-taken");
    expect(drawn.style).toEqual({ stroke: "var(--success)" });
    expect(drawn.data?.route).toEqual({ laneY: 120, back: false });
    expect(drawn.markerEnd).toMatchObject({ type: MarkerType.ArrowClosed, color: "var(--success)" });
  });

  it("marks a back edge for its own drawing, and draws a plain edge plainly", () => {
    expect(drawEdge(edge, { laneY: 300, back: true }).className).toBe("run-edge run-edge-taken back-edge");
    const plain = drawEdge({ id: "x", source: "a", target: "b" }, undefined);
    expect(plain.className).toBeUndefined();
    expect(plain.data?.route).toBeUndefined();
    expect(plain.markerEnd).toMatchObject({ color: "var(--edge)" });
  });
});
