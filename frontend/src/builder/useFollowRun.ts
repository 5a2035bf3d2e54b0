// Follows one run live (a test run of the draft, or a test step) the way the run monitor does: the statuses from
// its events as they come (useRunEvents), and each step's results (output, error, rendered config, logs,
// duration, pinned) read again whenever a step finishes and when the run does.
import { useCallback, useEffect, useRef, useState } from "react";
import { useClient } from "urql";
import { TEST_RUN_STEPS } from "../api/operations";
import type { RunEvent, RunStatus } from "../api/types";
import type { TestRunStepsQuery } from "../gql/graphql";
import { applyEvent, initialRunState, settle, type RunState } from "../lib/runState";
import { useRunEvents } from "../lib/useRunEvents";

export type StepResult = NonNullable<TestRunStepsQuery["run"]>["steps"][number];

export interface FollowedRun {
  runId: string;
  status: RunStatus | null;
  finished: boolean;
  /** Live statuses by step id. */
  statuses: Record<string, string>;
  /** The results last read, by step id. */
  results: Record<string, StepResult>;
}

const FINISHED_STEP = new Set(["SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED"]);

/** Whether an event finishes a step: its results are then worth reading. */
export function finishesStep(event: Pick<RunEvent, "stepId" | "status">): boolean {
  return !!event.stepId && FINISHED_STEP.has(event.status ?? "");
}

export function useFollowRun(runId: string | null): FollowedRun | null {
  const client = useClient();
  const [state, setState] = useState<RunState | null>(null);
  const [results, setResults] = useState<Record<string, StepResult>>({});
  const current = useRef(runId);
  current.current = runId;

  const load = useCallback(async () => {
    if (!runId) return;
    const res = await client.query(TEST_RUN_STEPS, { id: runId }, { requestPolicy: "network-only" }).toPromise();
    const run = res.data?.run;
    if (!run || current.current !== runId) return; // gone, or another run is followed by now
    setResults(Object.fromEntries(run.steps.map((s) => [s.stepId, s])));
    setState((s) => (s ? settle(s, run.status, run.steps, false) : initialRunState(run.status, run.steps)));
  }, [client, runId]);

  useEffect(() => {
    setState(null);
    setResults({});
    void load();
  }, [load]);

  useRunEvents(runId ?? "", !!runId && !!state && !state.finished, {
    onEvent: (event) => {
      setState((s) => (s ? applyEvent(s, event) : s));
      if (finishesStep(event)) void load();
    },
    onSettle: () => void load(),
    resumeAfter: () => state?.lastSeq ?? 0,
  });

  const finished = state?.finished ?? false;
  useEffect(() => {
    if (finished) void load();
  }, [finished, load]);

  if (!runId) return null;
  return { runId, status: state?.status ?? null, finished, statuses: state?.steps ?? {}, results };
}
