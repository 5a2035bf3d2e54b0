import { describe, expect, it } from "vitest";
import type { StepNode } from "./definition";
import { NODE_HEIGHT, NODE_WIDTH } from "./layout";
import { placeInView, visibleRect } from "./placement";

const node = (id: string, x: number, y: number): StepNode => ({
  id,
  type: "step",
  position: { x, y },
  data: { nodeType: "transform", title: "T", config: {}, extras: {}, branches: [], problems: [] },
});

const within = (p: { x: number; y: number }, view: { x: number; y: number; width: number; height: number }) =>
  p.x >= view.x && p.y >= view.y && p.x + NODE_WIDTH <= view.x + view.width && p.y + NODE_HEIGHT <= view.y + view.height;

describe("placeInView", () => {
  it("puts it right of the others when that is in view", () => {
    const view = visibleRect(1000, 600, [0, 0, 1]);
    expect(placeInView([node("a", 0, 100)], view)).toEqual({ x: 260, y: 100 });
  });

  it("puts it on a free spot in view when right of the others is off screen (under the inspector)", () => {
    const nodes = [node("a", 0, 0), node("b", 300, 0), node("c", 600, 0), node("d", 900, 0)];
    const view = visibleRect(800, 500, [0, 0, 1]); // the canvas shows x 0..800: right of d (1160) is not in it
    const spot = placeInView(nodes, view);
    expect(within(spot, view)).toBe(true);
    for (const n of nodes) {
      const apart = spot.x >= n.position.x + NODE_WIDTH || spot.x + NODE_WIDTH <= n.position.x || spot.y >= n.position.y + NODE_HEIGHT || spot.y + NODE_HEIGHT <= n.position.y;
      expect(apart).toBe(true);
    }
  });

  it("follows the pan and zoom", () => {
    const view = visibleRect(800, 600, [-2000, -1000, 0.5]); // shows x 4000..5600, y 2000..3200
    const spot = placeInView([node("a", 0, 0)], view);
    expect(within(spot, view)).toBe(true);
  });

  it("falls back to right of the others before the canvas is measured", () => {
    expect(placeInView([node("a", 0, 0)], visibleRect(0, 0, [0, 0, 1]))).toEqual({ x: 260, y: 0 });
  });
});
