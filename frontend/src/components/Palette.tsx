// The node palette: registry types grouped by category; drag onto the canvas or press a type to add it.
import type { DragEvent } from "react";
import type { NodeTypeInfo } from "../api/types";
import { groupByCategory } from "../lib/nodeTypes";

export const DRAG_MIME = "application/x-studio-node-type";

export function Palette({ types, onAdd }: { types: readonly NodeTypeInfo[]; onAdd: (type: string) => void }) {
  const onDragStart = (event: DragEvent, type: string) => {
    event.dataTransfer.setData(DRAG_MIME, type);
    event.dataTransfer.effectAllowed = "move";
  };
  return (
    <nav className="palette" aria-label="Node palette">
      <h2>Nodes</h2>
      <p className="hint">Drag a node onto the canvas, or press it to add it.</p>
      {groupByCategory(types).map(([category, list]) => (
        <section key={category} aria-label={category}>
          <h3>{category}</h3>
          <ul>
            {list.map((t) => (
              <li key={t.type}>
                <button
                  type="button"
                  className="palette-item"
                  draggable
                  onDragStart={(e) => onDragStart(e, t.type)}
                  onClick={() => onAdd(t.type)}
                  title={t.description}
                  data-testid={`palette-${t.type}`}
                >
                  {t.title}
                </button>
              </li>
            ))}
          </ul>
        </section>
      ))}
    </nav>
  );
}
