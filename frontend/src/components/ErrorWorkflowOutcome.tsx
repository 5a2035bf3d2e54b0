// A failed run that started no error run: why, as its RUN_ERROR_WORKFLOW event says (the error workflow is archived,
// has no published version, refused the failed run's input, the tenant's live runs are at their cap…). Nothing when
// the run's workflow and tenant name no error workflow (the event is not written then).
import { useEffect, useState } from "react";
import { useClient } from "urql";
import { RUN_LAST_EVENTS } from "../api/operations";
import { lastStoredSeq } from "../lib/runReplay";

/** The event written just before the run's final one: the last few events hold it. */
const TAIL = 5;

/** The reason in a RUN_ERROR_WORKFLOW event's data, when it says none started. */
export function notStartedReason(events: readonly { kind: string; data?: unknown }[]): string | null {
  for (const e of [...events].reverse()) {
    if (e.kind !== "RUN_ERROR_WORKFLOW") continue;
    const data = e.data && typeof e.data === "object" ? (e.data as Record<string, unknown>) : {};
    if (data.started === true || data.error_run_id) return null;
    return typeof data.reason === "string" && data.reason ? data.reason : "the error workflow was not started";
  }
  return null;
}

export function ErrorWorkflowOutcome({ runId }: { runId: string }) {
  const client = useClient();
  const [reason, setReason] = useState<string | null>(null);
  useEffect(() => {
    let current = true;
    void (async () => {
      const last = await lastStoredSeq(client, runId);
      const res = await client
        .query(RUN_LAST_EVENTS, { id: runId, afterSeq: Math.max(last - TAIL, 0) || null }, { requestPolicy: "network-only" })
        .toPromise();
      if (current) setReason(notStartedReason(res.data?.run?.events ?? []));
    })();
    return () => {
      current = false;
    };
  }, [client, runId]);
  if (!reason) return null;
  return (
    <div>
      <dt>Error run</dt>
      <dd data-testid="run-error-run-refused" className="text-warning">
        none started: {reason}
      </dd>
    </div>
  );
}
