// The right-hand panel while no node is selected: a hint, and the workflow's recent runs.
import { Link } from "react-router-dom";
import { useQuery } from "urql";
import { WORKFLOW_RUNS } from "../api/operations";
import { StatusBadge, TestBadge } from "../components/StatusBadge";
import { SIDE_PANEL } from "../components/Workspace";

export function WorkflowPanel({ workflowId }: { workflowId: string }) {
  return (
    <aside className={SIDE_PANEL} aria-label="Inspector">
      <p className="text-muted-foreground">Select a node to see its settings.</p>
      <RecentRuns workflowId={workflowId} />
    </aside>
  );
}

function RecentRuns({ workflowId }: { workflowId: string }) {
  const [{ data }] = useQuery({
    query: WORKFLOW_RUNS,
    variables: { workflowId },
    requestPolicy: "cache-and-network",
  });
  const runs = data?.runs.nodes ?? [];
  if (!runs.length) return null;
  return (
    <section aria-label="Recent runs">
      <h3 className="mb-1">Recent runs</h3>
      <ul className="grid gap-1">
        {runs.map((r) => (
          <li key={r.id} className="flex flex-wrap items-center gap-1.5">
            <Link to={`/runs/${r.id}`}>
              {r.test ? "draft" : `v${r.version}`} · {new Date(r.createdAt).toLocaleString()}
            </Link>{" "}
            <StatusBadge status={r.status} />
            {r.test ? <TestBadge /> : null}
          </li>
        ))}
      </ul>
      <p className="mt-1">
        <Link to={`/workflows/${workflowId}/runs`}>All runs of this workflow</Link>
      </p>
    </section>
  );
}
