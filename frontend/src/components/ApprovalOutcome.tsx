// A human.approval step in the run monitor: while open, who may decide and when it expires; once decided, the
// decision, who made it and their comment (every vote, when it took several), read from the step's task.
import { useEffect } from "react";
import { Link } from "react-router-dom";
import { useQuery } from "urql";
import { RUN_TASKS } from "../api/operations";
import { asObject } from "../lib/json";
import { countdown, formatWhen, useNow } from "../lib/time";
import { Badge } from "./ui/badge";

const DECISION_WORDS: Record<string, { text: string; variant: "success" | "destructive" | "warning" | "outline" }> = {
  APPROVED: { text: "Approved", variant: "success" },
  REJECTED: { text: "Rejected", variant: "destructive" },
  EXPIRED: { text: "Expired", variant: "warning" },
  CANCELLED: { text: "Cancelled", variant: "outline" },
  OPEN: { text: "Waiting for a decision", variant: "warning" },
};

export function ApprovalOutcome({ runId, stepId, status, output }: { runId: string; stepId: string; status: string | undefined; output: unknown }) {
  const [{ data }, refetch] = useQuery({ query: RUN_TASKS, variables: { id: runId }, requestPolicy: "network-only" });
  // biome-ignore lint/correctness/useExhaustiveDependencies: a status change means the task changed: read it again
  useEffect(() => {
    refetch({ requestPolicy: "network-only" });
  }, [status, refetch]);
  const tasks = (data?.run?.humanTasks ?? []).filter((t) => t.stepId === stepId);
  const task = tasks[tasks.length - 1];
  const open = task?.status === "OPEN";
  const now = useNow(open && !!task?.expiresAt);
  // The step's output is the decision the run went on with (also when the task was deleted with its user).
  const out = asObject(output);
  const decision = typeof out?.decision === "string" ? out.decision : null;
  const decidedBy = typeof out?.decided_by === "string" ? out.decided_by : null;
  const comment = typeof out?.comment === "string" ? out.comment : null;
  if (!task && !decision) return null;
  const words = DECISION_WORDS[task?.status ?? (decision === "approved" ? "APPROVED" : "REJECTED")] ?? DECISION_WORDS.OPEN!;
  return (
    <section aria-label="Approval" className="grid gap-1.5 rounded-md border p-2" data-testid="approval-outcome">
      <h3 className="flex flex-wrap items-center gap-2">
        Approval <Badge variant={words.variant}>{words.text}</Badge>
      </h3>
      {task ? <p className="text-xs text-muted-foreground">{task.title}</p> : null}
      {open ? (
        <p className="text-sm">
          {task.approvals} of {task.requiredApprovals} approval{task.requiredApprovals === 1 ? "" : "s"} so far.{" "}
          {task.expiresAt ? (
            <>
              Expires <time dateTime={task.expiresAt}>{countdown(task.expiresAt, now)}</time> ({formatWhen(task.expiresAt)}).{" "}
            </>
          ) : null}
          <Link to="/inbox">Decide in the inbox</Link>
        </p>
      ) : (
        <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-0.5 text-sm [&_dt]:text-muted-foreground">
          <dt>Decided by</dt>
          <dd>{task?.decidedBy?.email ?? decidedBy ?? (task?.status === "EXPIRED" ? "nobody: it expired" : "—")}</dd>
          <dt>When</dt>
          <dd>{task?.decidedAt ? <time dateTime={task.decidedAt}>{formatWhen(task.decidedAt)}</time> : "—"}</dd>
          <dt>Comment</dt>
          <dd className="break-words whitespace-pre-wrap [overflow-wrap:anywhere]">{task?.comment ?? comment ?? "—"}</dd>
        </dl>
      )}
      {task && task.decisions.length > 1 ? (
        <ol className="grid gap-0.5 text-xs" aria-label="Every decision">
          {task.decisions.map((d) => (
            <li key={`${d.user?.id ?? "gone"}-${d.createdAt}`}>
              {d.decision === "APPROVE" ? "Approved" : "Rejected"} by {d.user?.email ?? "a deleted user"} at {formatWhen(d.createdAt)}
              {d.comment ? `: ${d.comment}` : ""}
            </li>
          ))}
        </ol>
      ) : null}
    </section>
  );
}
