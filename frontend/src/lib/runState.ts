// Live run state: folds RunEvents (deduplicated by seq) over the statuses the `run` query returned.
import type { RunEvent, RunStatus, StepSummary } from "../api/types";

export interface RunState {
  status: RunStatus | null;
  steps: Record<string, string>; // step id -> StepStatus
  lastSeq: number;
  finished: boolean;
}

export const FINAL_RUN_STATUSES: readonly string[] = ["SUCCEEDED", "FAILED", "CANCELLED"];

export function initialRunState(status: RunStatus | null, steps: readonly StepSummary[]): RunState {
  return {
    status,
    steps: Object.fromEntries(steps.map((s) => [s.stepId, s.status])),
    lastSeq: 0,
    finished: status !== null && FINAL_RUN_STATUSES.includes(status),
  };
}

/**
 * Applies one event; an event at or below `lastSeq` (a replay after a reconnect) changes nothing. A run event
 * after a final one (`run.retried`: the run was retried and is queued again) makes the run unfinished again.
 */
export function applyEvent(state: RunState, event: RunEvent): RunState {
  if (event.seq <= state.lastSeq) return state;
  const next: RunState = { ...state, lastSeq: event.seq };
  if (event.stepId && event.status) {
    next.steps = { ...state.steps, [event.stepId]: event.status };
  } else if (!event.stepId && event.kind.startsWith("run.") && event.status) {
    next.status = event.status as RunStatus;
    next.finished = FINAL_RUN_STATUSES.includes(event.status);
  }
  if (event.final) next.finished = true;
  return next;
}

/**
 * The server's word (the `run` query: after the stream ended, or while the socket is down) replaces whatever the
 * events said. An answer that the run is not finished does not reopen a run already known to be finished: that
 * answer was computed before the final event and arrived after it (a refetch still in flight when the socket came
 * back). Only `reopen` (the answer after the user retried the run) may.
 */
export function settle(state: RunState, status: RunStatus, steps: readonly StepSummary[], reopen = false): RunState {
  if (state.finished && !FINAL_RUN_STATUSES.includes(status) && !reopen) return state;
  return {
    ...state,
    status,
    steps: { ...state.steps, ...Object.fromEntries(steps.map((s) => [s.stepId, s.status])) },
    finished: FINAL_RUN_STATUSES.includes(status),
  };
}

/** Text and symbol for a status, so colour is never the only signal. */
export function statusLabel(status: string | undefined | null): { symbol: string; text: string } {
  switch (status) {
    case "SUCCEEDED":
      return { symbol: "✓", text: "Succeeded" };
    case "FAILED":
      return { symbol: "✕", text: "Failed" };
    case "RUNNING":
      return { symbol: "▶", text: "Running" };
    case "WAITING":
      return { symbol: "‖", text: "Waiting" };
    case "SKIPPED":
      return { symbol: "↷", text: "Skipped" };
    case "CANCELLED":
      return { symbol: "⊘", text: "Cancelled" };
    case "QUEUED":
      return { symbol: "…", text: "Queued" };
    case "PENDING":
      return { symbol: "○", text: "Pending" };
    default:
      return { symbol: "○", text: "Not run" };
  }
}
