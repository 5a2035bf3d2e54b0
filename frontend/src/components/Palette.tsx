// The node palette: registry types grouped by category; drag onto the canvas or press a type to add it.
import type { DragEvent } from "react";
import type { NodeTypeInfo } from "../api/types";
import { groupByCategory } from "../lib/nodeTypes";
import { Button } from "./ui/button";

export const DRAG_MIME = "application/x-studio-node-type";

export function Palette({ types, onAdd }: { types: readonly NodeTypeInfo[]; onAdd: (type: string) => void }) {
  const onDragStart = (event: DragEvent, type: string) => {
    event.dataTransfer.setData(DRAG_MIME, type);
    event.dataTransfer.effectAllowed = "move";
  };
  return (
    <nav className="w-48 shrink-0 overflow-auto border-r bg-card p-2" aria-label="Node palette">
      <h2 className="text-sm">Nodes</h2>
      <p className="mb-1 text-xs text-muted-foreground">Drag a node onto the canvas, or press it to add it.</p>
      {groupByCategory(types).map(([category, list]) => (
        <section key={category} aria-label={category}>
          <h3 className="mt-3 mb-1 text-xs text-muted-foreground uppercase">{category}</h3>
          <ul className="grid gap-1">
            {list.map((t) => (
              <li key={t.type}>
                <Button
                  className="w-full cursor-grab justify-start"
                  draggable
                  onDragStart={(e) => onDragStart(e, t.type)}
                  onClick={() => onAdd(t.type)}
                  title={t.description}
                  data-testid={`palette-${t.type}`}
                >
                  {t.title}
                </Button>
              </li>
            ))}
          </ul>
        </section>
      ))}
    </nav>
  );
}
