// The inspector's "Test" section for the selected node: its result in the last test run, its pin (pin that result,
// or JSON typed by hand; unpin), and "Run this step" alone with its upstream data from the pins, an earlier run's
// step outputs, or JSON typed by hand; the step's output, error, logs, duration and rendered config show here.
import { useState, type FormEvent } from "react";
import { useQuery } from "urql";
import { WORKFLOW_RUNS } from "../api/operations";
import { ErrorBox, JsonBlock } from "../components/ErrorBox";
import { Field, FieldMessages, invalidProps } from "../components/FieldMessages";
import { StatusBadge } from "../components/StatusBadge";
import { Button } from "../components/ui/button";
import { Label } from "../components/ui/label";
import { NativeSelect } from "../components/ui/native-select";
import { Textarea } from "../components/ui/textarea";
import { parseJsonInput } from "../lib/runInput";
import type { StepResult } from "./useFollowRun";
import type { Upstream } from "./useTestDraft";

export interface TestPanelProps {
  workflowId: string;
  nodeId: string;
  isTrigger: boolean;
  /** The node's step in the last test run of the draft, and that run. */
  lastTest: { runId: string; step: StepResult | undefined } | null;
  /** The node's pinned output, if the draft pins it. */
  pin: { output?: unknown } | null;
  /** The node's last "Run this step" result (null until it ran; undefined step while it starts). */
  stepResult: { step: StepResult | undefined; finished: boolean } | null;
  pinOutput: (nodeId: string, from: { fromRunId: string } | { output: unknown }) => Promise<string | null>;
  unpin: (nodeId: string) => Promise<string | null>;
  runStep: (nodeId: string, upstream: Upstream) => Promise<string | null>;
}

export function TestPanel(props: TestPanelProps) {
  const { nodeId, lastTest, pin } = props;
  const [problem, setProblem] = useState<string | null>(null);
  const act = async (work: Promise<string | null>) => setProblem(await work);
  const last = lastTest?.step;
  return (
    <section aria-label="Test" className="grid gap-2 border-t pt-3" data-testid="test-panel">
      <h3>Test</h3>
      {problem ? (
        <p role="alert" className="text-sm text-destructive">
          {problem}
        </p>
      ) : null}
      {pin ? (
        <div className="grid gap-1">
          <p className="text-sm">
            <span className="step-pinned">Pinned</span> Test runs and test steps use this output instead of running the node.
          </p>
          <JsonBlock value={pin.output} label="Pinned output" data-testid="pinned-output" />
          <Button className="w-fit" onClick={() => void act(props.unpin(nodeId))}>
            Unpin
          </Button>
        </div>
      ) : null}
      {last && lastTest ? (
        <div className="grid gap-1">
          <p className="flex items-center gap-1.5 text-sm">
            Last test run: <StatusBadge status={last.status} />
          </p>
          {last.status === "SUCCEEDED" ? (
            <Button className="w-fit" onClick={() => void act(props.pinOutput(nodeId, { fromRunId: lastTest.runId }))}>
              Pin this output
            </Button>
          ) : null}
        </div>
      ) : null}
      <PinTyped onPin={(output) => act(props.pinOutput(nodeId, { output }))} />
      {props.isTrigger ? null : <RunThisStep {...props} onProblem={setProblem} />}
    </section>
  );
}

/** Pin an output typed as JSON. */
function PinTyped({ onPin }: { onPin: (output: unknown) => Promise<void> }) {
  const [open, setOpen] = useState(false);
  const [text, setText] = useState("{}");
  const [problem, setProblem] = useState<string | null>(null);
  if (!open) {
    return (
      <Button className="w-fit" onClick={() => setOpen(true)}>
        Pin typed output…
      </Button>
    );
  }
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const parsed = parseJsonInput(text);
    if ("problem" in parsed) return setProblem(parsed.problem);
    await onPin(parsed.value);
    setOpen(false);
  };
  const messages = problem ? [problem] : undefined;
  return (
    <form className="grid gap-1.5" onSubmit={(e) => void submit(e)} aria-label="Pin an output" noValidate>
      <Field>
        <Label htmlFor="pin-json">Output to pin (JSON)</Label>
        <Textarea
          id="pin-json"
          value={text}
          spellCheck={false}
          onChange={(e) => {
            setText(e.target.value);
            setProblem(null);
          }}
          {...invalidProps("pin-json-error", messages)}
        />
        <FieldMessages id="pin-json-error" messages={messages} />
      </Field>
      <span className="flex gap-2">
        <Button type="submit" variant="default">
          Pin
        </Button>
        <Button onClick={() => setOpen(false)}>Cancel</Button>
      </span>
    </form>
  );
}

/** "Run this step": the upstream data's source, then the step's result. */
function RunThisStep({ workflowId, nodeId, runStep, stepResult, onProblem }: TestPanelProps & { onProblem: (p: string | null) => void }) {
  const [source, setSource] = useState<"pins" | "run" | "json">("pins");
  const [runId, setRunId] = useState("");
  const [text, setText] = useState("{}");
  const [fieldProblem, setFieldProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [{ data }] = useQuery({ query: WORKFLOW_RUNS, variables: { workflowId }, requestPolicy: "cache-and-network", pause: source !== "run" });
  const runs = data?.runs.nodes ?? [];
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    let upstream: Upstream = { kind: "pins" };
    if (source === "run") {
      const chosen = runId || runs[0]?.id;
      if (!chosen) return setFieldProblem("This workflow has no run yet: test it first, or type the upstream data.");
      upstream = { kind: "run", runId: chosen };
    } else if (source === "json") {
      const parsed = parseJsonInput(text);
      if ("problem" in parsed) return setFieldProblem(parsed.problem);
      const value = parsed.value;
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        return setFieldProblem("Type an object: {node id: that node's output}");
      }
      upstream = { kind: "json", upstream: value as Record<string, unknown> };
    }
    setBusy(true);
    try {
      onProblem(await runStep(nodeId, upstream));
    } finally {
      setBusy(false);
    }
  };
  const messages = fieldProblem ? [fieldProblem] : undefined;
  const step = stepResult?.step;
  return (
    <form className="grid gap-1.5" onSubmit={(e) => void submit(e)} aria-label="Run this step" noValidate>
      <Field>
        <Label htmlFor="step-upstream">Upstream data</Label>
        <NativeSelect
          id="step-upstream"
          value={source}
          onChange={(e) => {
            setSource(e.target.value as typeof source);
            setFieldProblem(null);
          }}
        >
          <option value="pins">Pinned outputs</option>
          <option value="run">An earlier run's outputs</option>
          <option value="json">JSON typed by hand</option>
        </NativeSelect>
      </Field>
      {source === "run" ? (
        <Field>
          <Label htmlFor="step-run">Run</Label>
          <NativeSelect id="step-run" value={runId} onChange={(e) => setRunId(e.target.value)} {...invalidProps("step-upstream-error", messages)}>
            {runs.map((r) => (
              <option key={r.id} value={r.id}>
                {r.test ? "test" : `v${r.version}`} · {new Date(r.createdAt).toLocaleString()} · {r.status.toLowerCase()}
              </option>
            ))}
          </NativeSelect>
        </Field>
      ) : null}
      {source === "json" ? (
        <Field>
          <Label htmlFor="step-json">Upstream outputs (JSON: node id → output)</Label>
          <Textarea
            id="step-json"
            value={text}
            spellCheck={false}
            onChange={(e) => {
              setText(e.target.value);
              setFieldProblem(null);
            }}
            {...invalidProps("step-upstream-error", messages)}
          />
        </Field>
      ) : null}
      <FieldMessages id="step-upstream-error" messages={messages} />
      <Button type="submit" variant="default" className="w-fit" disabled={busy}>
        Run this step
      </Button>
      {stepResult ? <StepResultView step={step} finished={stepResult.finished} /> : null}
    </form>
  );
}

/** A test step's result: status and duration, output, error, logs and the rendered config (secrets masked). */
export function StepResultView({ step, finished }: { step: StepResult | undefined; finished: boolean }) {
  if (!step) return <p role="status">Starting the step…</p>;
  return (
    <div className="grid gap-1.5" data-testid="step-result">
      <p className="flex items-center gap-1.5 text-sm" role="status">
        <StatusBadge status={step.status} />
        {step.durationMs != null ? <span>{step.durationMs} ms</span> : null}
        {step.pinned ? <span className="step-pinned">Pinned</span> : null}
        {!finished ? <span className="text-muted-foreground">running…</span> : null}
      </p>
      {step.output !== undefined && step.output !== null ? (
        <>
          <h4 className="text-xs font-semibold">Output</h4>
          <JsonBlock value={step.output} label="Output" data-testid="step-result-output" />
        </>
      ) : null}
      {step.error ? <ErrorBox error={step.error} label="Error" /> : null}
      {step.logs.length ? (
        <section aria-label="Logs">
          <h4 className="text-xs font-semibold">Logs</h4>
          <pre className="max-h-40 overflow-auto rounded bg-muted p-1 font-mono text-[11px] whitespace-pre-wrap">{step.logs.join("\n")}</pre>
        </section>
      ) : null}
      {step.input !== undefined && step.input !== null ? (
        <>
          <h4 className="text-xs font-semibold">Rendered config</h4>
          <JsonBlock value={step.input} label="Rendered config" />
        </>
      ) : null}
    </div>
  );
}
