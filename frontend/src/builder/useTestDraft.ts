// Testing the draft from the builder: "Test workflow" (a test run of the draft's saved revision: unsaved changes
// are saved first), "Run this step" (a test step), and the draft's pinned outputs (pin, unpin).
import { useCallback, useState } from "react";
import { useMutation, useQuery } from "urql";
import { PIN_NODE_OUTPUT, TEST_RUN, TEST_STEP, UNPIN_NODE_OUTPUT, WORKFLOW_PINS } from "../api/operations";
import type { UserError } from "../api/types";
import type { Notify } from "./notice";

/** Where a test step's upstream data comes from. */
export type Upstream =
  | { kind: "pins" }
  | { kind: "run"; runId: string }
  /** JSON typed by hand: {node id: that node's output}. */
  | { kind: "json"; upstream: Record<string, unknown> };

export interface TestDraftOptions {
  workflowId: string;
  /** Saves unsaved changes (a test runs the saved draft); false when saving failed. */
  saveFirst: () => Promise<boolean>;
  notify: Notify;
  /** A refused test run's problems (an invalid draft): shown on the nodes and fields, as publishing does. */
  onProblems?: (errors: readonly UserError[]) => void;
}

export function useTestDraft({ workflowId, saveFirst, notify, onProblems }: TestDraftOptions) {
  const [testRunId, setTestRunId] = useState<string | null>(null);
  const [stepRun, setStepRun] = useState<{ nodeId: string; runId: string } | null>(null);
  const [, testRun] = useMutation(TEST_RUN);
  const [, testStep] = useMutation(TEST_STEP);
  const [, pinMutation] = useMutation(PIN_NODE_OUTPUT);
  const [, unpinMutation] = useMutation(UNPIN_NODE_OUTPUT);
  const [pinsResult, refetchPins] = useQuery({ query: WORKFLOW_PINS, variables: { id: workflowId }, requestPolicy: "cache-and-network" });
  const pins = pinsResult.data?.workflow?.pins ?? [];

  /** Starts a test run of the draft with `input`; the canvas follows it. */
  const start = useCallback(
    async (input: unknown): Promise<boolean> => {
      if (!(await saveFirst())) return false;
      const res = await testRun({ workflowId, input: input ?? {} });
      const payload = res.data?.testRun;
      if (!payload?.run) {
        if (payload?.errors.length) onProblems?.(payload.errors);
        notify({ kind: "error", text: `Test not started: ${payload?.errors[0]?.message ?? res.error?.message}` });
        return false;
      }
      setTestRunId(payload.run.id);
      return true;
    },
    [saveFirst, testRun, workflowId, notify, onProblems],
  );

  /** Runs one node of the draft with its upstream data from `upstream`; the inspector follows it. */
  const runStep = useCallback(
    async (nodeId: string, upstream: Upstream): Promise<string | null> => {
      if (!(await saveFirst())) return "Save the draft first.";
      const res = await testStep({
        workflowId,
        nodeId,
        usePins: upstream.kind === "pins",
        fromRunId: upstream.kind === "run" ? upstream.runId : null,
        upstream: upstream.kind === "json" ? upstream.upstream : null,
      });
      const payload = res.data?.testStep;
      if (!payload?.run) return payload?.errors[0]?.message ?? res.error?.message ?? "The step did not start.";
      setStepRun({ nodeId, runId: payload.run.id });
      return null;
    },
    [saveFirst, testStep, workflowId],
  );

  /** Pins a node's output: its step's in the run `fromRunId`, or `output` typed by hand. */
  const pin = useCallback(
    async (nodeId: string, from: { fromRunId: string } | { output: unknown }): Promise<string | null> => {
      const res = await pinMutation({ workflowId, nodeId, ...("fromRunId" in from ? { fromRunId: from.fromRunId } : { output: from.output }) });
      const payload = res.data?.pinNodeOutput;
      if (!payload?.pin) return payload?.errors[0]?.message ?? res.error?.message ?? "Not pinned.";
      refetchPins({ requestPolicy: "network-only" });
      return null;
    },
    [pinMutation, workflowId, refetchPins],
  );

  const unpin = useCallback(
    async (nodeId: string): Promise<string | null> => {
      const res = await unpinMutation({ workflowId, nodeId });
      const payload = res.data?.unpinNodeOutput;
      if (!payload || payload.errors.length) return payload?.errors[0]?.message ?? res.error?.message ?? "Not unpinned.";
      refetchPins({ requestPolicy: "network-only" });
      return null;
    },
    [unpinMutation, workflowId, refetchPins],
  );

  return { testRunId, setTestRunId, stepRun, start, runStep, pins, pin, unpin };
}

export type TestDraft = ReturnType<typeof useTestDraft>;
