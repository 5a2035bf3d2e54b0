// The right-hand panel while no node is selected: a hint, the workflow's settings (its error workflow) and its
// recent runs.
import { Link } from "react-router-dom";
import { useMutation, useQuery } from "urql";
import { SET_ERROR_WORKFLOW, WORKFLOW_ERROR_SETTING, WORKFLOW_RUNS } from "../api/operations";
import { useCan } from "../auth";
import { ErrorWorkflowPicker } from "../components/ErrorWorkflowPicker";
import { StatusBadge, TestBadge } from "../components/StatusBadge";
import { SIDE_PANEL } from "../components/Workspace";
import { problemText } from "../lib/fieldErrors";

export function WorkflowPanel({ workflowId }: { workflowId: string }) {
  return (
    <aside className={SIDE_PANEL} aria-label="Inspector">
      <p className="text-muted-foreground">Select a node to see its settings.</p>
      <WorkflowSettings workflowId={workflowId} />
      <RecentRuns workflowId={workflowId} />
    </aside>
  );
}

/** Settings of the workflow itself, saved at once (not part of the draft): the workflow started when a run fails. */
export function WorkflowSettings({ workflowId }: { workflowId: string }) {
  const editable = useCan("editGraph");
  const [{ data }] = useQuery({ query: WORKFLOW_ERROR_SETTING, variables: { id: workflowId }, requestPolicy: "cache-and-network" });
  const [, setErrorWorkflow] = useMutation(SET_ERROR_WORKFLOW);
  if (!data?.workflow) return null;
  const fallback = data.me.tenant.defaultErrorWorkflow;
  return (
    <section aria-label="Workflow settings" className="grid gap-2">
      <h3>Workflow settings</h3>
      <ErrorWorkflowPicker
        label="Error workflow"
        current={data.workflow.errorWorkflow ?? null}
        noneLabel={fallback ? `None (the tenant's default: ${fallback.name})` : "None"}
        description="Started once, with the failed run's id, workflow, version, failed step, error and input, when a live run of this workflow fails or times out. Saved at once, not with the draft."
        editable={editable}
        onChoose={async (errorWorkflowId) => {
          const res = await setErrorWorkflow({ workflowId, errorWorkflowId });
          return problemText(res.data?.setErrorWorkflow, res.error, "The error workflow was not saved.");
        }}
      />
    </section>
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
