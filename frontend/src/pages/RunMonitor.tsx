// The run monitor: the run's workflow graph with each step's live status, and the selected step's envelope.
import { ReactFlowProvider, useNodesState } from "@xyflow/react";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { useClient, useMutation, useQuery } from "urql";
import { CANCEL_RUN, NODE_TYPES, RETRY_RUN, RUN_ARTIFACTS, RUN_HEAD, RUN_WITH_DEFINITION, STEP, TEST_REPLAY } from "../api/operations";
import type { RunEvent } from "../api/types";
import { useCan } from "../auth";
import { ApprovalOutcome } from "../components/ApprovalOutcome";
import { ChildRuns, PARENT_NODE_TYPES } from "../components/ChildRuns";
import { CodeBlock } from "../components/CodeBlock";
import { ErrorBox, JsonBlock } from "../components/ErrorBox";
import { RunFacts } from "../components/RunFacts";
import { StatusBadge, TestBadge } from "../components/StatusBadge";
import { StepGraph } from "../components/StepGraph";
import { WaitEventPanel } from "../components/WaitEventPanel";
import { Alert } from "../components/ui/alert";
import { Button } from "../components/ui/button";
import { PageProblem, SIDE_PANEL, Toolbar, ToolbarTitle, Workspace } from "../components/Workspace";
import { definitionToGraph, type Definition, type StepEdge, type StepNode } from "../lib/definition";
import { layoutGraph } from "../lib/layout";
import { typeInfo } from "../lib/nodeTypes";
import { FINAL_RUN_STATUSES, applyEvent, initialRunState, settle, type AwaitedEvent, type RunState } from "../lib/runState";
import { minimapColor, runEdges, stepOutcome, type EdgeState } from "../lib/runGraph";
import { lastStoredSeq, replayGate } from "../lib/runReplay";
import { countdown, formatWhen, useNow } from "../lib/time";
import { useRunEvents } from "../lib/useRunEvents";

export function RunMonitorPage() {
  const { id = "" } = useParams();
  const [head] = useQuery({ query: RUN_HEAD, variables: { id } });
  if (head.error) return <PageProblem>{head.error.message}</PageProblem>;
  if (!head.data) return <p className="px-6 py-4" role="status">Loading the run…</p>;
  if (!head.data.run) return <PageProblem>This run does not exist.</PageProblem>;
  return (
    <ReactFlowProvider>
      <RunMonitor key={id} runId={id} version={head.data.run.version} />
    </ReactFlowProvider>
  );
}

function RunMonitor({ runId, version }: { runId: string; version: number }) {
  const canCancel = useCan("cancelRun");
  const canRetry = useCan("retryRun");
  const canTest = useCan("testDraft");
  const canSignal = useCan("signalRun");
  const navigate = useNavigate();
  const [runResult, refetchRun] = useQuery({
    query: RUN_WITH_DEFINITION,
    variables: { id: runId, version },
    requestPolicy: "network-only",
  });
  const [nt] = useQuery({ query: NODE_TYPES, requestPolicy: "cache-first" });
  // While a refetch is on its way, and when it fails (the network is down while the socket reconnects), the
  // last run the server sent stays on the screen (and its events followed).
  const lastRun = useRef(runResult.data?.run ?? null);
  if (runResult.data) lastRun.current = runResult.data.run;
  const run = lastRun.current;
  const [state, setState] = useState<RunState | null>(null);
  const [connection, setConnection] = useState<"live" | "reconnecting">("live");
  const [selectedId, setSelectedId] = useState<string | null>(null);
  // Streamed model answers as they grow (STEP_DELTA), per step; the stored output replaces them once the step ends.
  const [streamed, setStreamed] = useState<Record<string, string>>({});

  // Every (re)load of the run query is the server's word: fold it into the live state. Only the answer after a
  // retry may reopen a run the events saw finish (see settle).
  const reopening = useRef(false);
  useEffect(() => {
    if (!run) return;
    const reopen = reopening.current;
    if (reopen && !FINAL_RUN_STATUSES.includes(run.status)) reopening.current = false;
    setState((s) => (s ? settle(s, run.status, run.steps, reopen) : initialRunState(run.status, run.steps)));
  }, [run]);

  // Opened mid-run: where the run's stored history ends, so that its replay lands on the screen at once.
  const client = useClient();
  const [replayUntil, setReplayUntil] = useState<number | null>(null);
  const asked = useRef(false);
  useEffect(() => {
    if (!run || asked.current) return;
    asked.current = true;
    if (FINAL_RUN_STATUSES.includes(run.status)) setReplayUntil(0); // nothing to follow
    else void lastStoredSeq(client, runId).then(setReplayUntil);
  }, [run, client, runId]);
  const gate = useRef<((event: RunEvent) => RunEvent[]) | null>(null);

  const settleFromServer = useCallback(() => refetchRun({ requestPolicy: "network-only" }), [refetchRun]);
  useRunEvents(runId, !!state && replayUntil !== null && !state.finished, {
    onEvent: (event) => {
      gate.current ??= replayGate(replayUntil ?? 0);
      const batch = gate.current(event);
      if (batch.length) setState((s) => (s ? batch.reduce(applyEvent, s) : s));
    },
    onDelta: (event) => {
      const text = (event.data as { text?: unknown } | null)?.text;
      const stepId = event.stepId;
      if (stepId && typeof text === "string") setStreamed((all) => ({ ...all, [stepId]: text }));
    },
    onSettle: settleFromServer,
    onConnection: setConnection,
    resumeAfter: () => state?.lastSeq ?? 0,
  });
  // The final event arrived through the stream: read the final statuses (and outputs) once more.
  const finished = state?.finished ?? false;
  useEffect(() => {
    if (finished) settleFromServer();
  }, [finished, settleFromServer]);

  const graph = useMemo(() => {
    // What the run executes: a test run's draft snapshot has no published version (Run.definition has both).
    const def = (run?.definition ?? run?.workflow.version?.definition) as Definition | undefined;
    if (!def || !nt.data) return null;
    const g = definitionToGraph(def, typeInfo(nt.data.nodeTypes));
    return { nodes: g.needsLayout ? layoutGraph(g.nodes, g.edges) : g.nodes, edges: g.edges };
  }, [run?.definition, run?.workflow.version?.definition, nt.data]);

  // React Flow measures nodes through onNodesChange before it shows them: keep them in its state. The statuses
  // are put on them while rendering (not in an effect), so the run's badge and its nodes never disagree on screen.
  const [nodes, setNodes, onNodesChange] = useNodesState<StepNode>([]);
  useEffect(() => {
    if (graph) setNodes(graph.nodes);
  }, [graph, setNodes]);
  // A node whose status did not change stays the same object (a 1,000-node run re-renders only what changed).
  const withStatus = useRef(new WeakMap<StepNode, StepNode>());
  const steps = state?.steps;
  const taken = state?.branches;
  const shownNodes = useMemo(
    () =>
      nodes.map((n) => {
        const status = steps?.[n.id] ?? "PENDING";
        const outcome = stepOutcome(n, status, taken?.[n.id]);
        const cached = withStatus.current.get(n);
        if (cached?.data.status === status && cached.data.outcome === outcome) return cached;
        const shown = { ...n, data: { ...n.data, status, outcome } };
        withStatus.current.set(n, shown);
        return shown;
      }),
    [nodes, steps, taken],
  );
  // Edges the run went along are drawn solid and coloured, those it did not dashed and dimmed (lib/runGraph.ts).
  const edgeCache = useRef(new WeakMap<StepEdge, { state: EdgeState; edge: StepEdge }>());
  const edges: StepEdge[] = useMemo(() => {
    const byId = new Map(graph?.nodes.map((n) => [n.id, n]));
    const onError = (id: string) => byId.get(id)?.data.extras.on_error;
    return runEdges(graph?.edges ?? [], steps ?? {}, taken ?? {}, onError, edgeCache.current);
  }, [graph, steps, taken]);

  const [, cancel] = useMutation(CANCEL_RUN);
  const [cancelError, setCancelError] = useState<string | null>(null);
  const [, retry] = useMutation(RETRY_RUN);
  const [, testReplay] = useMutation(TEST_REPLAY);
  const [replayError, setReplayError] = useState<string | null>(null);
  /** Replays this run's trigger payload (input, webhook delivery, message, schedule fire) against the draft. */
  const replayOnDraft = async () => {
    const res = await testReplay({ runId });
    const replayed = res.data?.testReplay.run;
    if (replayed) navigate(`/runs/${replayed.id}`);
    else setReplayError(res.data?.testReplay.errors[0]?.message ?? res.error?.message ?? "Not replayed.");
  };

  /** Retries from a step; the answer is the same run, queued again (or another run: then show that one). */
  const retryFrom = async (stepId: string): Promise<string | null> => {
    const res = await retry({ id: runId, fromStep: stepId });
    const payload = res.data?.retryRun;
    if (!payload?.run) return payload?.errors[0]?.message ?? res.error?.message ?? "The run was not retried.";
    if (payload.run.id !== runId) navigate(`/runs/${payload.run.id}`);
    else {
      reopening.current = true;
      settleFromServer();
    }
    return null;
  };

  if (runResult.error && !run) return <PageProblem>{runResult.error.message}</PageProblem>;
  if (!run || !state) return <p className="px-6 py-4" role="status">Loading the run…</p>;
  const status = state.status ?? run.status;

  return (
    <Workspace>
      <Toolbar>
        <ToolbarTitle className="min-w-0 truncate">
          <Link to="/">Workflows</Link> / <Link to={`/workflows/${run.workflow.id}`}>{run.workflow.name}</Link> /{" "}
          <Link to={`/workflows/${run.workflow.id}/runs`}>Runs</Link> / run {run.id.slice(0, 8)}
        </ToolbarTitle>
        {run.test ? (
          <span className="inline-flex items-center gap-1.5 text-muted-foreground">
            <TestBadge /> of the draft{run.draftRevision ? ` (revision ${run.draftRevision})` : ""}
          </span>
        ) : null}
        <span className="inline-flex items-center gap-1.5 text-muted-foreground" role="status" aria-live="polite" data-testid="run-status" data-status={status}>
          <StatusBadge status={status} />
          {connection === "reconnecting" ? " · reconnecting…" : ""}
        </span>
        {canCancel && !state.finished ? (
          <Button
            variant="destructive-outline"
            onClick={async () => {
              const res = await cancel({ id: run.id });
              const errors = res.data?.cancelRun.errors;
              setCancelError(errors?.[0]?.message ?? res.error?.message ?? null);
            }}
          >
            Cancel run
          </Button>
        ) : null}
        {canTest && !run.parent ? (
          <Button onClick={() => void replayOnDraft()} title="Run this run's trigger payload against the current draft, as a test run">
            Replay on the draft
          </Button>
        ) : null}
      </Toolbar>
      <RunFacts
        run={run}
        finished={state.finished}
        startedAt={state.startedAt ?? run.startedAt ?? null}
        finishedAt={state.finishedAt ?? run.finishedAt ?? null}
        wakeAt={state.wakeAt}
        awaiting={state.awaiting}
      />
      {replayError ? (
        <p className="px-3 py-1 text-sm text-destructive" role="alert">
          {replayError}
        </p>
      ) : null}
      {cancelError ? (
        <p className="px-3 py-1 text-sm text-destructive" role="alert">
          {cancelError}
        </p>
      ) : null}
      {runResult.error ? (
        <p className="px-3 py-1 text-sm text-destructive" role="alert">
          Could not reach the server ({runResult.error.message}); showing the last known state.
        </p>
      ) : null}
      <div className="flex min-h-0 flex-1">
        <div className="relative min-w-0 flex-1" data-testid="run-canvas">
          <StepGraph
            nodes={shownNodes}
            edges={edges}
            onNodesChange={onNodesChange}
            nodesDraggable={false}
            nodesConnectable={false}
            deleteKeyCode={null}
            onNodeClick={(_, n) => setSelectedId(n.id)}
            minimapColor={minimapNodeColor}
          />
        </div>
        <aside className={SIDE_PANEL} aria-label="Step details">
          {selectedId ? (
            <StepPanel
              runId={run.id}
              stepId={selectedId}
              status={state.steps[selectedId]}
              streamedText={state.steps[selectedId] === "RUNNING" ? streamed[selectedId] : undefined}
              wakeAt={state.wakeAt[selectedId] ?? null}
              onRetry={canRetry && state.finished ? () => retryFrom(selectedId) : undefined}
              awaited={state.awaiting?.[selectedId]}
              eventName={eventNameOf(graph?.nodes.find((n) => n.id === selectedId), selectedId)}
              canSignal={canSignal}
              onSignalled={settleFromServer}
            />
          ) : (
            <>
              <p className="text-muted-foreground">Select a step to see its input, output, error and logs.</p>
              {run.error ? (
                <>
                  <h3>Run error</h3>
                  <ErrorBox error={run.error} label="Run error" />
                </>
              ) : null}
              <h3>Run input</h3>
              <JsonBlock value={run.input} label="Run input" />
              {run.output !== null ? (
                <>
                  <h3>Run output</h3>
                  <JsonBlock value={run.output} label="Run output" data-testid="run-output" />
                </>
              ) : null}
            </>
          )}
        </aside>
      </div>
    </Workspace>
  );
}

/** A wait.event step's event name as its config says: `event`, default the step id. */
function eventNameOf(node: StepNode | undefined, stepId: string): string {
  const event = node?.data.config.event;
  return typeof event === "string" && event ? event : stepId;
}

/** The mini map's fill: each node's status colour. */
const minimapNodeColor = (n: StepNode) => minimapColor(n.data.status);

function StepPanel({
  runId,
  stepId,
  status,
  wakeAt,
  onRetry,
  awaited,
  eventName,
  canSignal,
  onSignalled,
  streamedText,
}: {
  runId: string;
  stepId: string;
  status: string | undefined;
  /** The model's answer so far while the step streams it (llm.chat / agent with stream: true). */
  streamedText?: string;
  /** For a wait.event step: what its STEP_AWAITING_EVENT said (the event name, the resume URL). */
  awaited?: AwaitedEvent;
  eventName: string;
  canSignal: boolean;
  onSignalled: () => void;
  /** When the step resumes (a delay, a backoff, an approval's expiry), as the events said; else the step's own. */
  wakeAt: string | null;
  /** Set when the viewer may retry and the run has finished; resolves to an error message or null. */
  onRetry?: () => Promise<string | null>;
}) {
  const [{ data, fetching }, refetch] = useQuery({
    query: STEP,
    variables: { runId, stepId },
    requestPolicy: "network-only",
  });
  // Download links expire (15 minutes): read them fresh with the step.
  const [artifactsResult, refetchArtifacts] = useQuery({
    query: RUN_ARTIFACTS,
    variables: { id: runId },
    requestPolicy: "network-only",
  });
  // A status change means new output, error, logs or files.
  // biome-ignore lint/correctness/useExhaustiveDependencies: status is what triggers the refetch: it is not read inside
  useEffect(() => {
    refetch({ requestPolicy: "network-only" });
    refetchArtifacts({ requestPolicy: "network-only" });
  }, [status, refetch, refetchArtifacts]);
  const [retrying, setRetrying] = useState(false);
  const [retryError, setRetryError] = useState<string | null>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: another step clears the error of the last one's retry
  useEffect(() => setRetryError(null), [stepId]);
  const artifacts = (artifactsResult.data?.run?.artifacts ?? []).filter((a) => a.stepId === stepId);
  const step = data?.run?.step;
  const wake = wakeAt ?? (step && (step.status === "WAITING" || step.status === "PENDING") ? step.wakeAt : null);
  const now = useNow(!!wake);
  if (!step) return <p className="text-muted-foreground">{fetching ? "Loading…" : `Step ${stepId} has not been planned yet.`}</p>;
  const envelope = (step.envelope ?? {}) as { logs?: unknown[] };
  return (
    <section data-testid="step-panel" className="grid gap-2">
      <h2 className="flex items-center gap-2">
        {step.stepId} <StatusBadge status={step.status} />
      </h2>
      {onRetry ? (
        <p>
          <Button
            disabled={retrying}
            title="Run this step and everything downstream of it again"
            onClick={async () => {
              setRetrying(true);
              setRetryError(await onRetry());
              setRetrying(false);
            }}
          >
            Retry from this step
          </Button>
        </p>
      ) : null}
      {retryError ? <Alert variant="destructive">{retryError}</Alert> : null}
      <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-0.5 [&_dt]:text-muted-foreground">
        <dt>Type</dt>
        <dd>{step.nodeType}</dd>
        <dt>Attempt</dt>
        <dd>{step.attempt}</dd>
        <dt>Started</dt>
        <dd>{step.startedAt ? new Date(step.startedAt).toLocaleString() : "—"}</dd>
        <dt>Finished</dt>
        <dd>{step.finishedAt ? new Date(step.finishedAt).toLocaleString() : "—"}</dd>
        {wake ? (
          <>
            <dt>{step.status === "PENDING" ? "Next attempt" : "Resumes"}</dt>
            <dd data-testid="step-wake">
              <time dateTime={wake}>{countdown(wake, now)}</time>{" "}
              <span className="text-xs text-muted-foreground">({formatWhen(wake)})</span>
            </dd>
          </>
        ) : null}
        {step.branches ? (
          <>
            <dt>Branch taken</dt>
            <dd>{step.branches.length ? step.branches.join(", ") : "none"}</dd>
          </>
        ) : null}
      </dl>
      {step.nodeType === "human.approval" ? <ApprovalOutcome runId={runId} stepId={stepId} status={status} output={step.output} /> : null}
      {step.nodeType === "wait.event" ? (
        <WaitEventPanel
          key={stepId}
          runId={runId}
          stepId={stepId}
          event={eventName}
          awaited={awaited}
          waiting={(status ?? step.status) === "WAITING"}
          canSignal={canSignal}
          onSignalled={onSignalled}
        />
      ) : null}
      {step.error ? (
        <>
          <h3>Error</h3>
          <ErrorBox error={step.error} label="Step error" />
        </>
      ) : null}
      {PARENT_NODE_TYPES.includes(step.nodeType) ? <ChildRuns runId={runId} stepId={stepId} nodeType={step.nodeType} status={status} /> : null}
      {streamedText !== undefined ? (
        <>
          <h3>Answer so far</h3>
          <pre data-testid="step-stream" aria-live="polite" className="whitespace-pre-wrap rounded border p-2 text-sm">
            {streamedText}
          </pre>
        </>
      ) : null}
      <h3>Input</h3>
      <JsonBlock value={step.input} label="Step input" />
      <h3>Output</h3>
      <JsonBlock value={step.output} label="Step output" data-testid="step-output" />
      {artifacts.length ? (
        <>
          <h3>Artifacts</h3>
          <ul className="grid gap-1" aria-label="Artifacts of this step">
            {artifacts.map((a) => (
              <li key={a.id}>
                <a href={a.downloadUrl} download={a.name}>
                  {a.name}
                </a>{" "}
                <span className="text-xs text-muted-foreground">
                  {a.contentType} · {formatBytes(a.size)}
                </span>
              </li>
            ))}
          </ul>
        </>
      ) : null}
      <h3>Logs</h3>
      {envelope.logs?.length ? <CodeBlock label="Log lines">{envelope.logs.map(String).join("\n")}</CodeBlock> : <p className="text-xs text-muted-foreground">No log lines.</p>}
    </section>
  );
}

/** 1536 → "1.5 KB". */
function formatBytes(size: number): string {
  if (size < 1024) return `${size} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = size / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}
