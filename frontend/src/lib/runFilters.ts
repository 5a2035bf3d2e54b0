// The Runs page's filters and the URL's query string, both ways: a view is shared by sharing its address. Parsing
// keeps only values the page can show (a hand-edited or stale link loses what it cannot mean, never breaks the page),
// and serializing writes them in one order without defaults, so the same filters always make the same address.
import type { RunFilter, RunStatus } from "../gql/graphql";

export const RUN_STATUSES = ["QUEUED", "RUNNING", "WAITING", "SUCCEEDED", "FAILED", "CANCELLED"] as const satisfies readonly RunStatus[];
/** Runs that have not finished. */
export const ACTIVE_STATUSES: readonly RunStatus[] = ["QUEUED", "RUNNING", "WAITING"];
export type StatusChoice = RunStatus | "ACTIVE";
export const STATUS_CHOICES: readonly StatusChoice[] = ["ACTIVE", ...RUN_STATUSES];

/** The trigger kinds the engine records (`Run.trigger`); `parent` is a run a foreach, subworkflow or loop started,
 * `error` a run of an error workflow that a failed live run started (`Run.failedRun`). */
export const TRIGGER_KINDS = ["manual", "webhook", "schedule", "message", "parent", "error"] as const;
export type TriggerKind = (typeof TRIGGER_KINDS)[number];

/** Relative time ranges, counted back from when the page asks (a shared link means "the last 24 hours" then). */
export const RANGES = { "1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000 } as const;
export type RangeChoice = keyof typeof RANGES;

export interface RunFilters {
  /** A workflow's id; on /workflows/:id/runs it comes from the path and stays out of the query string. */
  workflow: string | null;
  status: StatusChoice | null;
  trigger: TriggerKind | null;
  /** A user's id: runs started for that person (Run.startedBy). */
  startedBy: string | null;
  range: RangeChoice | null;
  /** An absolute window (ISO 8601), used when no relative range is chosen. */
  from: string | null;
  to: string | null;
  /** Child runs too (of foreach, subworkflow, loop); the default lists top-level runs only. */
  children: boolean;
  /** Test runs of drafts only, live runs only, or both (null). */
  mode: RunMode | null;
}

export const RUN_MODES = ["test", "live"] as const;
export type RunMode = (typeof RUN_MODES)[number];

export const NO_FILTERS: RunFilters = {
  workflow: null,
  status: null,
  trigger: null,
  startedBy: null,
  range: null,
  from: null,
  to: null,
  children: false,
  mode: null,
};

/** The query-string keys, in the order they are written. */
export const QUERY_KEYS = ["workflow", "status", "trigger", "startedBy", "range", "from", "to", "children", "mode"] as const;

const ID = /^[A-Za-z0-9_-]{1,64}$/;

function isoOrNull(value: string | null): string | null {
  if (!value) return null;
  const time = Date.parse(value);
  return Number.isNaN(time) ? null : new Date(time).toISOString();
}

function oneOf<T extends string>(value: string | null, allowed: readonly T[]): T | null {
  return value !== null && (allowed as readonly string[]).includes(value) ? (value as T) : null;
}

/** Filters from a query string (`location.search` or URLSearchParams); `workflow` from the path wins over the query. */
export function parseRunFilters(search: string | URLSearchParams, pathWorkflow?: string | null): RunFilters {
  const params = typeof search === "string" ? new URLSearchParams(search) : search;
  const id = (key: string) => {
    const value = params.get(key);
    return value && ID.test(value) ? value : null;
  };
  const range = oneOf(params.get("range"), Object.keys(RANGES) as RangeChoice[]);
  return {
    workflow: pathWorkflow ?? id("workflow"),
    status: oneOf(params.get("status"), STATUS_CHOICES),
    trigger: oneOf(params.get("trigger"), TRIGGER_KINDS),
    startedBy: id("startedBy"),
    range,
    // A relative range and an absolute window do not mix: the range wins.
    from: range ? null : isoOrNull(params.get("from")),
    to: range ? null : isoOrNull(params.get("to")),
    children: params.get("children") === "1",
    mode: oneOf(params.get("mode"), RUN_MODES),
  };
}

/** The query string for filters (without "?"); defaults are left out. `pathWorkflow`: the workflow the path names. */
export function serializeRunFilters(filters: RunFilters, pathWorkflow?: string | null): string {
  const params = new URLSearchParams();
  const values: Record<(typeof QUERY_KEYS)[number], string | null> = {
    workflow: filters.workflow && filters.workflow !== pathWorkflow ? filters.workflow : null,
    status: filters.status,
    trigger: filters.trigger,
    startedBy: filters.startedBy,
    range: filters.range,
    from: filters.range ? null : filters.from,
    to: filters.range ? null : filters.to,
    children: filters.children ? "1" : null,
    mode: filters.mode,
  };
  for (const key of QUERY_KEYS) {
    const value = values[key];
    if (value) params.set(key, value);
  }
  return params.toString();
}

/** The API's RunFilter for filters, with relative ranges counted back from `now`. */
export function toRunFilter(filters: RunFilters, now: number = Date.now()): RunFilter {
  const out: RunFilter = {};
  if (filters.workflow) out.workflowId = filters.workflow;
  if (filters.status) out.status = filters.status === "ACTIVE" ? [...ACTIVE_STATUSES] : [filters.status];
  if (filters.trigger) out.trigger = [filters.trigger];
  if (filters.startedBy) out.startedBy = filters.startedBy;
  if (filters.mode) out.test = filters.mode === "test";
  if (filters.range) out.createdAfter = new Date(now - RANGES[filters.range]).toISOString();
  else {
    if (filters.from) out.createdAfter = filters.from;
    if (filters.to) out.createdBefore = filters.to;
  }
  // Child runs are what the `parent` trigger means: asking for them lists them whatever the checkbox says.
  if (!filters.children && filters.trigger !== "parent") out.topLevel = true;
  return out;
}

/** Whether any filter narrows the list (the page's empty state says so, with a way back to everything). */
export function isFiltered(filters: RunFilters, pathWorkflow?: string | null): boolean {
  return serializeRunFilters(filters, pathWorkflow) !== "";
}

export const STATUS_LABELS: Record<StatusChoice, string> = {
  ACTIVE: "Not finished",
  QUEUED: "Queued",
  RUNNING: "Running",
  WAITING: "Waiting",
  SUCCEEDED: "Succeeded",
  FAILED: "Failed",
  CANCELLED: "Cancelled",
};

export const TRIGGER_LABELS: Record<TriggerKind, string> = {
  manual: "Manual or API",
  webhook: "Webhook",
  schedule: "Schedule",
  message: "Message",
  parent: "Child run",
  error: "Error workflow",
};

export const RANGE_LABELS: Record<RangeChoice, string> = {
  "1h": "Last hour",
  "24h": "Last 24 hours",
  "7d": "Last 7 days",
  "30d": "Last 30 days",
};
