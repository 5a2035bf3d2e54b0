// The child runs of a foreach, subworkflow or loop step: how many succeeded and failed, then the failed (and
// cancelled) ones first, then the rest, each a link to its own monitor; pages of 20, keyset-paged by the server.
import { useEffect, useState } from "react";
import { Link } from "react-router-dom";
import { useQuery } from "urql";
import { STEP_CHILDREN } from "../api/operations";
import type { RunStatus } from "../gql/graphql";
import { asObject } from "../lib/json";
import { elapsed, formatDuration, useNow } from "../lib/time";
import { StatusBadge } from "./StatusBadge";
import { Button } from "./ui/button";

const PAGE = 20;
const FAILED: RunStatus[] = ["FAILED", "CANCELLED"];
const REST: RunStatus[] = ["QUEUED", "RUNNING", "WAITING", "SUCCEEDED"];

/** Node types whose steps start child runs. */
export const PARENT_NODE_TYPES: readonly string[] = ["foreach", "subworkflow", "loop"];

export function ChildRuns({ runId, stepId, nodeType, status }: { runId: string; stepId: string; nodeType: string; status: string | undefined }) {
  const [{ data }, refetch] = useQuery({
    query: STEP_CHILDREN,
    variables: { runId, stepId, status: FAILED, first: 0 },
    requestPolicy: "network-only",
  });
  // biome-ignore lint/correctness/useExhaustiveDependencies: the step's status changing is when its children changed
  useEffect(() => {
    refetch({ requestPolicy: "network-only" });
  }, [status, refetch]);
  const summary = data?.run?.childSummary;
  const item = nodeType === "loop" ? "Iteration" : "Item";
  if (!summary) return null;
  if (!summary.total) return <p className="text-xs text-muted-foreground">No child runs yet.</p>;
  const parts = [
    [summary.succeeded, "succeeded"],
    [summary.failed, "failed"],
    [summary.cancelled, "cancelled"],
    [summary.running, "running or waiting"],
    [summary.queued, "queued"],
  ] as const;
  return (
    <section aria-label="Child runs" className="grid gap-2" data-testid="child-runs">
      <h3>Child runs</h3>
      <p className="text-sm" data-testid="child-summary">
        {summary.total} in all:{" "}
        {parts
          .filter(([n]) => n > 0)
          .map(([n, word]) => `${n} ${word}`)
          .join(" · ")}
      </p>
      {summary.failed + summary.cancelled > 0 ? (
        <ChildList runId={runId} stepId={stepId} statuses={FAILED} title="Failed first" item={item} status={status} />
      ) : null}
      {summary.total - summary.failed - summary.cancelled > 0 ? (
        <ChildList runId={runId} stepId={stepId} statuses={REST} title={summary.failed + summary.cancelled ? "The others" : "All"} item={item} status={status} />
      ) : null}
    </section>
  );
}

function ChildList(props: { runId: string; stepId: string; statuses: RunStatus[]; title: string; item: string; status: string | undefined }) {
  const [pages, setPages] = useState<(string | null)[]>([null]);
  const [next, setNext] = useState<string | null>(null);
  return (
    <div className="grid gap-1">
      <h4 className="text-xs font-semibold text-muted-foreground">{props.title}</h4>
      <ul className="grid gap-1" aria-label={`${props.title}: child runs`}>
        {pages.map((after, i) => (
          <ChildPage key={after ?? "first"} {...props} after={after} onEnd={i === pages.length - 1 ? setNext : undefined} />
        ))}
      </ul>
      {next ? (
        <Button size="xs" className="w-fit" onClick={() => setPages((p) => [...p, next])}>
          Show more
        </Button>
      ) : null}
    </div>
  );
}

function ChildPage({
  runId,
  stepId,
  statuses,
  item,
  after,
  status,
  onEnd,
}: {
  runId: string;
  stepId: string;
  statuses: RunStatus[];
  item: string;
  after: string | null;
  status: string | undefined;
  onEnd?: (cursor: string | null) => void;
}) {
  const [{ data }, refetch] = useQuery({
    query: STEP_CHILDREN,
    variables: { runId, stepId, status: statuses, first: PAGE, after },
    requestPolicy: "network-only",
  });
  // biome-ignore lint/correctness/useExhaustiveDependencies: re-read the first page when the step moves on
  useEffect(() => {
    if (after === null) refetch({ requestPolicy: "network-only" });
  }, [status, refetch]);
  const page = data?.run?.children;
  useEffect(() => {
    if (page) onEnd?.(page.pageInfo.hasNextPage ? (page.pageInfo.endCursor ?? null) : null);
  }, [page, onEnd]);
  const live = !!page?.nodes.some((c) => !c.finishedAt);
  const now = useNow(live);
  return (
    <>
      {page?.nodes.map((child) => {
        const took = elapsed(child.startedAt, child.finishedAt, now);
        return (
          <li key={child.id} className="flex flex-wrap items-center gap-x-2 gap-y-0.5 text-sm">
            <Link to={`/runs/${child.id}`}>
              {child.itemIndex != null ? `${item} ${child.itemIndex}` : `Run ${child.id.slice(0, 8)}`}
            </Link>
            <StatusBadge status={child.status} />
            <span className="text-xs text-muted-foreground">{took !== null ? formatDuration(took) : "not started"}</span>
            {errorMessage(child.error) ? (
              <span className="basis-full text-xs break-words text-destructive [overflow-wrap:anywhere]">{errorMessage(child.error)}</span>
            ) : null}
          </li>
        );
      })}
    </>
  );
}

function errorMessage(error: unknown): string | null {
  const message = asObject(error)?.message;
  return typeof message === "string" ? message : null;
}
