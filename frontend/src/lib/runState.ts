// Live run state: folds RunEvents (deduplicated by seq) over the statuses the `run` query returned.
import type { RunEvent, RunEventKind, RunStatus, StepSummary } from "../api/types";

export interface RunState {
  status: RunStatus | null;
  steps: Record<string, string>; // step id -> StepStatus
  /** The branches each succeeded step took (null: every outgoing edge); absent until it succeeded. */
  branches: Record<string, readonly string[] | null>;
  /** When a waiting step (a delay, an approval's expiry) or a step backing off before its next attempt resumes. */
  wakeAt: Record<string, string>;
  /** When the run started and finished as its events told (the run query's times are older while it is live). */
  startedAt?: string | null;
  finishedAt?: string | null;
  lastSeq: number;
  finished: boolean;
  /** wait.event steps waiting for their event, as their STEP_AWAITING_EVENT said (absent in older states, tests). */
  awaiting?: Record<string, AwaitedEvent>;
}

/** What a waiting wait.event step waits for: its event name, and the resume URL (null for roles without run:signal). */
export interface AwaitedEvent {
  event: string;
  resumeUrl: string | null;
  expiresAt: string | null;
}

const FINAL_STEP_STATUSES: readonly string[] = ["SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED"];

/** The awaited events after one event: set by STEP_AWAITING_EVENT, gone once the event arrived or the step ended. */
function withAwaiting(state: RunState, event: RunEvent): Record<string, AwaitedEvent> | undefined {
  const stepId = event.stepId;
  if (!stepId) return state.awaiting;
  if (event.kind === "STEP_AWAITING_EVENT") {
    const name = dataField(event, "event");
    const url = dataField(event, "resume_url");
    const expires = dataField(event, "expires_at");
    return {
      ...state.awaiting,
      [stepId]: {
        event: typeof name === "string" ? name : stepId,
        resumeUrl: typeof url === "string" && url ? url : null,
        expiresAt: typeof expires === "string" && expires ? expires : null,
      },
    };
  }
  const ended = event.kind === "STEP_EVENT_RECEIVED" || (!!event.status && FINAL_STEP_STATUSES.includes(event.status));
  if (!ended || !state.awaiting?.[stepId]) return state.awaiting;
  const { [stepId]: _gone, ...rest } = state.awaiting;
  return rest;
}

export const FINAL_RUN_STATUSES: readonly string[] = ["SUCCEEDED", "FAILED", "CANCELLED"];

/** The kinds about the run as a whole (RUN_QUEUED … RUN_CANCELLED): the generated RunEventKind's `RUN_` members. */
export type RunLevelKind = Extract<RunEventKind, `RUN_${string}`>;

/** Whether an event concerns the whole run rather than one step; a kind added to the schema needs nothing here. */
export function isRunLevel(kind: RunEventKind): kind is RunLevelKind {
  return kind.startsWith("RUN_");
}

/** A step as the run query returns it; branches and wake time are optional (older answers, tests). */
export type StepLike = Pick<StepSummary, "stepId" | "status"> & Partial<Omit<StepSummary, "stepId" | "status">>;

function stepDetails(steps: readonly StepLike[]): Pick<RunState, "branches" | "wakeAt"> {
  const branches: RunState["branches"] = {};
  const wakeAt: RunState["wakeAt"] = {};
  for (const s of steps) {
    if (s.status === "SUCCEEDED") branches[s.stepId] = s.branches ?? null;
    if (s.wakeAt && (s.status === "WAITING" || s.status === "PENDING")) wakeAt[s.stepId] = s.wakeAt;
  }
  return { branches, wakeAt };
}

export function initialRunState(status: RunStatus | null, steps: readonly StepLike[]): RunState {
  return {
    status,
    steps: Object.fromEntries(steps.map((s) => [s.stepId, s.status])),
    ...stepDetails(steps),
    lastSeq: 0,
    finished: status !== null && FINAL_RUN_STATUSES.includes(status),
  };
}

/** A string field of an event's `data` (a JSON object), if it is one. */
function dataField(event: RunEvent, key: string): unknown {
  const data = event.data;
  return typeof data === "object" && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>)[key] : undefined;
}

/**
 * A step event's branches and wake time, from its data alone (not its kind): a success names the branches it took
 * (none named: every edge); a wait names `wake_at`, a retry's backoff `retry_at`; any other step event clears both.
 */
function withStepDetails(state: RunState, event: RunEvent, stepId: string, status: string): Pick<RunState, "branches" | "wakeAt"> {
  const branches = { ...state.branches };
  const taken = dataField(event, "branches");
  if (status === "SUCCEEDED") branches[stepId] = Array.isArray(taken) ? taken.map(String) : null;
  else delete branches[stepId];
  const wakeAt = { ...state.wakeAt };
  const wake = dataField(event, "wake_at") ?? dataField(event, "retry_at");
  if (typeof wake === "string" && wake) wakeAt[stepId] = wake;
  else delete wakeAt[stepId];
  return { branches, wakeAt };
}

/**
 * Applies one event; an event at or below `lastSeq` (a replay after a reconnect) changes nothing. A run event
 * after a final one (`RUN_RETRIED`: the run was retried and is queued again) makes the run unfinished again.
 */
export function applyEvent(state: RunState, event: RunEvent): RunState {
  if (event.seq <= state.lastSeq) return state;
  const next: RunState = { ...state, lastSeq: event.seq };
  const awaiting = withAwaiting(state, event);
  if (awaiting !== state.awaiting) next.awaiting = awaiting;
  if (event.stepId && event.status) {
    next.steps = { ...state.steps, [event.stepId]: event.status };
    Object.assign(next, withStepDetails(state, event, event.stepId, event.status));
  } else if (!event.stepId && isRunLevel(event.kind) && event.status) {
    next.status = event.status as RunStatus;
    next.finished = FINAL_RUN_STATUSES.includes(event.status);
    if (event.status === "RUNNING" && !state.startedAt) next.startedAt = event.at;
    next.finishedAt = next.finished ? event.at : null;
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
export function settle(state: RunState, status: RunStatus, steps: readonly StepLike[], reopen = false): RunState {
  if (state.finished && !FINAL_RUN_STATUSES.includes(status) && !reopen) return state;
  const listed = new Set(steps.map((s) => s.stepId));
  const details = stepDetails(steps);
  const keep = <T,>(old: Record<string, T>, fresh: Record<string, T>) =>
    ({ ...Object.fromEntries(Object.entries(old).filter(([id]) => !listed.has(id))), ...fresh });
  const statuses = { ...state.steps, ...Object.fromEntries(steps.map((s) => [s.stepId, s.status])) };
  // A wait the server says is over (the step no longer waits) is forgotten; the others stay as the events said.
  const awaiting = state.awaiting
    ? Object.fromEntries(Object.entries(state.awaiting).filter(([id]) => statuses[id] === "WAITING" || statuses[id] === "RUNNING"))
    : undefined;
  return {
    ...state,
    status,
    steps: statuses,
    ...(awaiting ? { awaiting } : {}),
    branches: keep(state.branches, details.branches),
    wakeAt: keep(state.wakeAt, details.wakeAt),
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
