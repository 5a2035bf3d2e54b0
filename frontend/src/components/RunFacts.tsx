// The run monitor's header facts: the run's id (copyable), version, trigger (with the delivery, tick or message),
// who it was started for and through what, when, its duration (live while it runs), its parent, and the steps
// that wait with when each resumes (a live countdown).
import { Link } from "react-router-dom";
import type { RunWithDefinitionQuery } from "../gql/graphql";
import type { AwaitedEvent } from "../lib/runState";
import { countdown, elapsed, formatDuration, formatWhen, useNow } from "../lib/time";
import { ErrorWorkflowOutcome } from "./ErrorWorkflowOutcome";
import { CopyButton } from "./Secret";
import { StatusBadge } from "./StatusBadge";

type MonitoredRun = NonNullable<RunWithDefinitionQuery["run"]>;

const VIA: Record<string, string> = {
  user: "",
  apikey: "with an API key",
  webhook: "by its webhook",
  schedule: "by its schedule",
  run: "by its parent run",
  message: "by a message",
};

/** "Webhook (delivery msg_1, received 10:30:02)", "Schedule (tick of 09:00)", "Child run", "Manual or API". */
export function triggerText(run: Pick<MonitoredRun, "trigger" | "triggerDetails">): string {
  const d = run.triggerDetails;
  switch (run.trigger) {
    case "webhook":
      return `Webhook${d.deliveryId ? ` (delivery ${d.deliveryId}${d.receivedAt ? `, received ${formatWhen(d.receivedAt)}` : ""})` : ""}`;
    case "schedule":
      return `Schedule${d.scheduledFor ? ` (tick of ${formatWhen(d.scheduledFor)})` : ""}`;
    case "message":
      return `Message${d.channel ? ` on ${d.channel}` : ""}`;
    case "parent":
      return "Child run";
    case "manual":
      return "Manual or API";
    case "error":
      return "Error workflow (a run failed)";
    default:
      return run.trigger;
  }
}

export function RunFacts({
  run,
  finished,
  startedAt,
  finishedAt,
  wakeAt,
  awaiting,
}: {
  run: MonitoredRun;
  finished: boolean;
  startedAt: string | null;
  finishedAt: string | null;
  /** Steps that wait, and when each resumes. */
  wakeAt: Record<string, string>;
  /** wait.event steps and the event each waits for. */
  awaiting?: Record<string, AwaitedEvent>;
}) {
  const waiting = Object.entries(wakeAt).sort(([, a], [, b]) => a.localeCompare(b));
  const events = Object.entries(awaiting ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const now = useNow(!finished);
  const took = elapsed(startedAt, finished ? finishedAt : null, now);
  const via = VIA[run.startedVia] ?? `by ${run.startedVia}`;
  return (
    <div className="flex flex-wrap items-start gap-x-6 gap-y-1 border-b bg-card px-3 py-1.5 text-sm" data-testid="run-facts">
      <dl className="flex flex-wrap items-center gap-x-5 gap-y-1 [&_dt]:text-xs [&_dt]:text-muted-foreground [&>div]:flex [&>div]:items-baseline [&>div]:gap-1.5">
        <div>
          <dt>Run</dt>
          <dd className="flex items-center gap-1.5">
            <code className="font-mono text-xs" data-testid="run-id">
              {run.id}
            </code>
            <CopyButton value={run.id} label="Copy id" name="Copy id of the run" />
          </dd>
        </div>
        <div>
          <dt>Version</dt>
          <dd>v{run.version}</dd>
        </div>
        <div>
          <dt>Trigger</dt>
          <dd data-testid="run-trigger">{triggerText(run)}</dd>
        </div>
        <div>
          <dt>Started by</dt>
          <dd data-testid="run-started-by">
            {run.startedBy ? run.startedBy.email : "—"}
            {via ? <span className="text-muted-foreground"> {via}</span> : null}
          </dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>
            <time dateTime={run.createdAt}>{formatWhen(run.createdAt)}</time>
          </dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd data-testid="run-duration" aria-live="off">
            {took === null ? "not started" : `${formatDuration(took)}${finished ? "" : " so far"}`}
          </dd>
        </div>
        {run.parent ? (
          <div>
            <dt>Parent</dt>
            <dd>
              <Link to={`/runs/${run.parent.id}`}>run of {run.parent.workflow.name}</Link>
              {run.parentStepId ? ` · step ${run.parentStepId}` : ""}
              {run.itemIndex != null ? ` · item ${run.itemIndex}` : ""}
            </dd>
          </div>
        ) : null}
        {run.failedRun ? (
          <div>
            <dt>Failed run</dt>
            <dd data-testid="run-failed-run">
              <Link to={`/runs/${run.failedRun.id}`}>← run {run.failedRun.id.slice(0, 8)} of {run.failedRun.workflow.name}</Link>
            </dd>
          </div>
        ) : null}
        {run.errorRun ? (
          <div>
            <dt>Error run</dt>
            <dd data-testid="run-error-run" className="flex items-center gap-1.5">
              <Link to={`/runs/${run.errorRun.id}`}>
                Error run →
              </Link>
              <span className="text-xs text-muted-foreground">{run.errorRun.workflow.name}</span>
              <StatusBadge status={run.errorRun.status} />
            </dd>
          </div>
        ) : null}
        {!run.errorRun && !run.test && !run.parent && run.status === "FAILED" && finished ? <ErrorWorkflowOutcome runId={run.id} /> : null}
        {run.triggerDetails.replayOf ? (
          <div>
            <dt>Replay of</dt>
            <dd>
              <Link to={`/runs/${run.triggerDetails.replayOf}`}>run {run.triggerDetails.replayOf.slice(0, 8)}</Link>
            </dd>
          </div>
        ) : null}
      </dl>
      {events.length && !finished ? (
        <ul className="flex flex-wrap gap-x-4 text-sm" aria-label="Steps waiting for an event" data-testid="run-awaited-events">
          {events.map(([stepId, awaited]) => (
            <li key={stepId}>
              <span className="text-warning">‖</span> {stepId} waits for event <code>{awaited.event}</code>
            </li>
          ))}
        </ul>
      ) : null}
      {waiting.length && !finished ? (
        <ul className="flex flex-wrap gap-x-4 text-sm" aria-label="Waiting steps" data-testid="run-waits">
          {waiting.map(([stepId, at]) => (
            <li key={stepId}>
              <span className="text-warning">‖</span> {stepId} resumes <time dateTime={at}>{countdown(at, now)}</time>
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
