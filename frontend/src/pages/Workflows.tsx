import { useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router-dom";
import { useMutation, useQuery } from "urql";
import { CREATE_WORKFLOW, WORKFLOWS } from "../api/operations";
import { useCan } from "../auth";

/** A new workflow starts as a manual trigger alone: the smallest valid definition. */
export const STARTER_DEFINITION = {
  nodes: [{ id: "start", type: "trigger.manual", config: {}, position: { x: 0, y: 0 } }],
  edges: [],
};

export function WorkflowsPage() {
  const [search, setSearch] = useState("");
  const [{ data, error, fetching }] = useQuery({
    query: WORKFLOWS,
    variables: { search: search || null },
    requestPolicy: "cache-and-network",
  });
  const canCreate = useCan("createWorkflow");
  const list = data?.workflows.nodes ?? [];
  return (
    <main className="page">
      <h1>Workflows</h1>
      <div className="row">
        <label htmlFor="wf-search">Search</label>
        <input id="wf-search" type="search" value={search} onChange={(e) => setSearch(e.target.value)} />
      </div>
      {canCreate ? <CreateWorkflow /> : null}
      {error ? <p className="error" role="alert">{error.message}</p> : null}
      {fetching && !data ? <p role="status">Loading…</p> : null}
      {data && !list.length ? <p>No workflows yet.</p> : null}
      <table className="list">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Published</th>
            <th scope="col">Updated</th>
            <th scope="col">Triggers</th>
          </tr>
        </thead>
        <tbody>
          {list.map((w) => (
            <tr key={w.id}>
              <td>
                <Link to={`/workflows/${w.id}`}>{w.name}</Link>
                {w.description ? <div className="hint">{w.description}</div> : null}
              </td>
              <td>{w.latestVersion ? `v${w.latestVersion.version}` : "not published"}</td>
              <td>{new Date(w.updatedAt).toLocaleString()}</td>
              <td>
                <Link to={`/workflows/${w.id}/triggers`} aria-label={`Triggers of ${w.name}`}>
                  Triggers
                </Link>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </main>
  );
}

function CreateWorkflow() {
  const navigate = useNavigate();
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [{ fetching }, create] = useMutation(CREATE_WORKFLOW);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const res = await create({ input: { name, definition: STARTER_DEFINITION } });
    const payload = res.data?.createWorkflow;
    if (payload?.workflow) navigate(`/workflows/${payload.workflow.id}`);
    else setError(payload?.errors[0]?.message ?? res.error?.message ?? "Could not create the workflow.");
  };
  return (
    <form className="row" onSubmit={submit} aria-label="Create a workflow">
      <label htmlFor="new-wf-name">New workflow</label>
      <input id="new-wf-name" required value={name} onChange={(e) => setName(e.target.value)} placeholder="Name" />
      <button type="submit" className="primary" disabled={fetching}>
        Create
      </button>
      {error ? (
        <span className="error" role="alert">
          {error}
        </span>
      ) : null}
    </form>
  );
}
