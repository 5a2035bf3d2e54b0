// Undo/redo of the builder: every change of the definition is one history entry, except that a node drag is
// recorded once it stops, a run of arrow-key nudges of one selection is one entry, a burst of edits to one
// inspector field coalesces into one entry, and defaults the inspector's form fills in by itself are no entry of
// their own (see classifyEdit). The history itself is pure (lib/history.ts); this hook feeds it and restores.
import type { NodeChange } from "@xyflow/react";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { Definition, StepNode } from "../lib/definition";
import {
  canRedo,
  canUndo,
  classifyEdit,
  createHistory,
  hashString,
  HISTORY_CAP,
  nudgeGroup,
  record,
  redo,
  undo,
  type History,
} from "../lib/history";
import { LARGE_GRAPH } from "../lib/layout";

/** One undo step: the definition and a hash of its JSON (the builder's `fullKey`). */
interface Snapshot {
  def: Definition;
  key: string;
}
const sameSnapshot = (a: Snapshot, b: Snapshot) => a.key === b.key;

/** A large graph keeps fewer states: each is a whole definition. */
export const LARGE_GRAPH_HISTORY_CAP = 25;

export interface UndoRedoOptions {
  definition: Definition;
  /** JSON of `definition`. */
  fullKey: string;
  /** The schema defaults of a node type's config: filling them in is no edit (see classifyEdit). */
  defaultsOf: (type: string) => Record<string, unknown>;
  /** Puts a state back on the canvas. */
  restore: (def: Definition) => void;
}

export function useUndoRedo({ definition, fullKey, defaultsOf, restore }: UndoRedoOptions) {
  const historyKey = useMemo(() => hashString(fullKey), [fullKey]);
  const [history, setHistory] = useState<History<Snapshot>>(() =>
    createHistory({ def: definition, key: historyKey }, definition.nodes.length > LARGE_GRAPH ? LARGE_GRAPH_HISTORY_CAP : HISTORY_CAP),
  );
  // Undo and redo read the history synchronously: a key repeat must not act on a stale state.
  const historyRef = useRef(history);
  historyRef.current = history;
  const definitionRef = useRef(definition);
  definitionRef.current = definition;
  const dragging = useRef(false);
  const [dragsEnded, setDragsEnded] = useState(0);
  // The last change moved the selection with the arrow keys (React Flow's keyboard move, not a drag).
  const nudged = useRef(false);

  // Record each new definition (a drag once it ends).
  // biome-ignore lint/correctness/useExhaustiveDependencies: dragsEnded records the drag that just ended; the definition is read from its ref so that a drag's frames record nothing
  useEffect(() => {
    if (dragging.current) return;
    const snapshot = { def: definitionRef.current, key: historyKey };
    const nudge = nudged.current;
    nudged.current = false;
    setHistory((h) => {
      if (h.present.key === snapshot.key) return h;
      const group = nudge ? nudgeGroup(h.present.def, snapshot.def) : null;
      const kind = group ? { group, replace: false } : classifyEdit(h.present.def, snapshot.def, defaultsOf);
      return record(h, snapshot, { ...kind, equals: sameSnapshot });
    });
  }, [historyKey, dragsEnded, defaultsOf]);

  /** Moves through the history and restores the state it lands on; false when there was nowhere to go. */
  const travel = useCallback(
    (move: typeof undo) => {
      const next = move(historyRef.current);
      if (next === historyRef.current) return false;
      historyRef.current = next;
      setHistory(next);
      restore(next.present.def);
      return true;
    },
    [restore],
  );

  /** Notes drags and nudges among React Flow's node changes (call it with every change). */
  const trackNodeChanges = useCallback((changes: NodeChange<StepNode>[]) => {
    for (const c of changes) {
      if (c.type !== "position") continue;
      if (c.dragging) dragging.current = true;
      else if (!dragging.current && c.position) nudged.current = true; // the arrow keys, not a drag's end
    }
  }, []);
  const dragStarted = useCallback(() => {
    dragging.current = true;
  }, []);
  const dragStopped = useCallback(() => {
    dragging.current = false;
    setDragsEnded((n) => n + 1);
  }, []);

  const undoStep = useCallback(() => travel(undo), [travel]);
  const redoStep = useCallback(() => travel(redo), [travel]);

  return {
    canUndo: canUndo(history),
    canRedo: canRedo(history),
    undo: undoStep,
    redo: redoStep,
    trackNodeChanges,
    dragStarted,
    dragStopped,
  };
}
