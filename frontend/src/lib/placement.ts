// Where a node added without a drop point goes: in view, on a free spot. Right of the others (level with the newest)
// when that spot is in view; otherwise the free spot nearest the middle of what the canvas shows, so it never lands
// off screen or under a panel.
import type { StepNode } from "./definition";
import { NODE_HEIGHT, NODE_WIDTH } from "./layout";
import { nextNodePosition } from "./graphEdits";

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The part of the graph the canvas shows, from React Flow's size and transform ([x, y, zoom]). */
export function visibleRect(width: number, height: number, [tx, ty, zoom]: readonly [number, number, number]): Rect {
  return { x: -tx / zoom, y: -ty / zoom, width: width / zoom, height: height / zoom };
}

const GAP = 24;
const MARGIN = 16;

function boxOf(n: StepNode): Rect {
  return { x: n.position.x, y: n.position.y, width: n.measured?.width ?? NODE_WIDTH, height: n.measured?.height ?? NODE_HEIGHT };
}

function overlaps(a: Rect, b: Rect, gap = GAP): boolean {
  return a.x < b.x + b.width + gap && b.x < a.x + a.width + gap && a.y < b.y + b.height + gap && b.y < a.y + a.height + gap;
}

function inside(a: Rect, view: Rect): boolean {
  return a.x >= view.x + MARGIN && a.y >= view.y + MARGIN && a.x + a.width <= view.x + view.width - MARGIN && a.y + a.height <= view.y + view.height - MARGIN;
}

/** A free, fully visible position for a new node; `view` empty (not measured yet): right of the others. */
export function placeInView(nodes: readonly StepNode[], view: Rect): { x: number; y: number } {
  const preferred = nextNodePosition(nodes);
  if (view.width <= 0 || view.height <= 0) return preferred;
  const boxes = nodes.map(boxOf);
  const free = (p: { x: number; y: number }) => {
    const box = { ...p, width: NODE_WIDTH, height: NODE_HEIGHT };
    return inside(box, view) && !boxes.some((b) => overlaps(box, b));
  };
  if (free(preferred)) return preferred;
  // Spots on a grid over the view, nearest its middle first.
  const centre = { x: view.x + view.width / 2 - NODE_WIDTH / 2, y: view.y + view.height / 2 - NODE_HEIGHT / 2 };
  const stepX = NODE_WIDTH / 2;
  const stepY = NODE_HEIGHT / 2;
  const reach = Math.ceil(Math.max(view.width / stepX, view.height / stepY) / 2) + 1;
  const spots: { x: number; y: number; d: number }[] = [];
  for (let i = -reach; i <= reach; i++) {
    for (let j = -reach; j <= reach; j++) {
      const spot = { x: Math.round(centre.x + i * stepX), y: Math.round(centre.y + j * stepY) };
      spots.push({ ...spot, d: (i * stepX) ** 2 + (j * stepY) ** 2 });
    }
  }
  spots.sort((a, b) => a.d - b.d);
  const found = spots.find(free);
  return found ? { x: found.x, y: found.y } : { x: Math.round(centre.x), y: Math.round(centre.y) };
}
