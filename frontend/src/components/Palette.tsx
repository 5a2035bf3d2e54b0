// The node palette: registry types grouped by category (each with its icon and colour, from the registry); drag
// onto the canvas or press a type to add it.
import type { DragEvent } from "react";
import type { NodeTypeInfo } from "../api/types";
import { plainText } from "../lib/markdown";
import { groupByCategory } from "../lib/nodeTypes";
import { NodeIcon } from "./NodeIcon";
import { Button } from "./ui/button";

export const DRAG_MIME = "application/x-studio-node-type";

export function Palette({ types, onAdd }: { types: readonly NodeTypeInfo[]; onAdd: (type: string) => void }) {
  const onDragStart = (event: DragEvent, type: string) => {
    event.dataTransfer.setData(DRAG_MIME, type);
    event.dataTransfer.effectAllowed = "move";
  };
  return (
    <nav className="w-52 shrink-0 overflow-auto border-r bg-card p-3" aria-label="Node palette">
      <h2 className="text-sm">Nodes</h2>
      <p className="mb-1 text-xs text-muted-foreground">Drag a node onto the canvas, or press it to add it.</p>
      {groupByCategory(types).map(([category, list]) => (
        <section key={category} aria-label={category}>
          <h3 className="mt-3 mb-1 flex items-center gap-1.5 text-xs font-semibold tracking-wide text-muted-foreground uppercase">
            <span aria-hidden="true" className="size-2 rounded-full" style={{ background: list[0]?.color }} />
            {category}
          </h3>
          <ul className="grid gap-0.5">
            {list.map((t) => (
              <li key={t.type}>
                <Button
                  variant="ghost"
                  className="h-8 w-full cursor-grab justify-start gap-2 px-1.5 font-normal"
                  draggable
                  onDragStart={(e) => onDragStart(e, t.type)}
                  onClick={() => onAdd(t.type)}
                  title={plainText(t.description)}
                  data-testid={`palette-${t.type}`}
                >
                  <NodeIcon icon={t.icon} color={t.color} size="sm" />
                  <span className="truncate">{t.title}</span>
                </Button>
              </li>
            ))}
          </ul>
        </section>
      ))}
    </nav>
  );
}
