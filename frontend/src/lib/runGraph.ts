// How the run monitor draws a run on its workflow's graph: which edges were taken (solid, coloured), which were not
// (dashed, dimmed), which are still open, and the mini map's colours. The rule is the engine's (studio_worker/engine/
// planner.py, `edge_taken`): an edge is decided once its source step is final; it is taken when the source succeeded
// and took the edge's branch (a plain node takes every edge), or failed with `on_error: continue` and the edge has
// no branch. Pure functions: the tests check them without a canvas.
import type { CSSProperties } from "react";
import type { StepEdge, StepNode } from "./definition";

export type EdgeState = "taken" | "not-taken" | "open";

export const FINAL_STEP_STATUSES: readonly string[] = ["SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED"];

export interface SourceState {
  status: string | undefined;
  /** The branches the step took; null or undefined: every outgoing edge. */
  branches?: readonly string[] | null;
  onError?: string;
}

/** Whether the run went along an edge (from its source step's status and the branches it took). */
export function edgeState(branch: string | null | undefined, source: SourceState): EdgeState {
  const status = source.status;
  if (!status || !FINAL_STEP_STATUSES.includes(status)) return "open";
  if (status === "SUCCEEDED") return !source.branches || (branch != null && source.branches.includes(branch)) ? "taken" : "not-taken";
  if (status === "FAILED" && source.onError === "continue") return branch == null ? "taken" : "not-taken";
  return "not-taken";
}

const EDGE_STYLE: Record<EdgeState, CSSProperties> = {
  taken: { stroke: "var(--success)", strokeWidth: 2.5 },
  "not-taken": { strokeDasharray: "6 5", opacity: 0.35 },
  open: {},
};

/**
 * The edges with their run state: `data-state` for tests and assistive styling, a class, a style (taken: solid in
 * the success colour; not taken: dashed and dimmed) and, for a branch label, the same dimming. An edge object whose
 * state did not change is returned as it was (React Flow re-renders only what changed).
 */
export function runEdges(
  edges: readonly StepEdge[],
  steps: Record<string, string>,
  branches: Record<string, readonly string[] | null>,
  onError: (stepId: string) => string | undefined,
  cache: WeakMap<StepEdge, { state: EdgeState; edge: StepEdge }> = new WeakMap(),
): StepEdge[] {
  return edges.map((edge) => {
    const state = edgeState(edge.sourceHandle, { status: steps[edge.source], branches: branches[edge.source], onError: onError(edge.source) });
    const cached = cache.get(edge);
    if (cached?.state === state) return cached.edge;
    const shown: StepEdge = {
      ...edge,
      className: `run-edge run-edge-${state}`,
      style: { ...edge.style, ...EDGE_STYLE[state] },
      animated: false,
      data: { ...edge.data, state },
    };
    if (edge.label) {
      shown.labelStyle = state === "not-taken" ? { opacity: 0.45 } : state === "taken" ? { fontWeight: 700 } : undefined;
      shown.ariaLabel = `${edge.source} ${edge.sourceHandle ?? ""} to ${edge.target}: ${EDGE_WORDS[state]}`;
    } else {
      shown.ariaLabel = `${edge.source} to ${edge.target}: ${EDGE_WORDS[state]}`;
    }
    cache.set(edge, { state, edge: shown });
    return shown;
  });
}

export const EDGE_WORDS: Record<EdgeState, string> = { taken: "taken", "not-taken": "not taken", open: "not decided yet" };

/** What a finished branching step chose, for its node: "→ approved", "→ true, false"; nothing for a plain node. */
export function stepOutcome(node: StepNode, status: string | undefined, taken: readonly string[] | null | undefined): string | undefined {
  if (status !== "SUCCEEDED" || !node.data.branches.length || !taken) return undefined;
  return taken.length ? `→ ${taken.join(", ")}` : "→ no branch";
}

/** The mini map's fill for a step status: the status colours of the canvas nodes, so the overview reads at a glance. */
export function minimapColor(status: string | undefined): string {
  switch (status) {
    case "SUCCEEDED":
      return "var(--success)";
    case "FAILED":
      return "var(--destructive)";
    case "RUNNING":
      return "var(--info)";
    case "WAITING":
      return "var(--warning)";
    case "SKIPPED":
    case "CANCELLED":
      return "var(--muted)";
    default:
      return "var(--border)";
  }
}
