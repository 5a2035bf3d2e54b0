// Copy/paste of nodes: the clip lives in the page (not the system clipboard); each paste of it lands a bit further
// off, with fresh ids (lib/clipboard.ts).
import { useRef } from "react";
import { copyNodes, pasteClip, PASTE_OFFSET, type Clip } from "../lib/clipboard";
import type { Definition, StepNode } from "../lib/definition";
import { MOD } from "../lib/shortcuts";
import type { Notify } from "./notice";
import type { GraphEdits } from "./useGraphEdits";

export interface ClipboardOptions {
  definition: Definition;
  nodes: readonly StepNode[];
  /** The inspector's node: copied when no node is selected on the canvas. */
  selectedId: string | null;
  insert: GraphEdits["insert"];
  notify: Notify;
}

export function useClipboard({ definition, nodes, selectedId, insert, notify }: ClipboardOptions) {
  const clip = useRef<Clip | null>(null);
  const pastes = useRef(0);

  /** Copies the selected nodes and the edges among them; false when nothing is selected. */
  const copy = (): boolean => {
    const ids = nodes.filter((n) => n.selected).map((n) => n.id);
    const copied = copyNodes(definition, ids.length ? ids : selectedId ? [selectedId] : []);
    if (!copied) return false;
    clip.current = copied;
    pastes.current = 0;
    const count = copied.nodes.length;
    notify({ kind: "ok", text: `Copied ${count} node${count === 1 ? "" : "s"}; ${MOD}V pastes.` });
    return true;
  };

  /** Pastes the clip, offset from the last paste of it; false when nothing was copied. */
  const paste = (): boolean => {
    if (!clip.current) return false;
    pastes.current += 1;
    const offset = PASTE_OFFSET * pastes.current;
    const pasted = pasteClip(clip.current, nodes.map((n) => n.id), { x: offset, y: offset });
    insert(pasted);
    return true;
  };

  return { copy, paste };
}
