import { useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router-dom";
import { useMutation, useQuery } from "urql";
import { CREATE_WORKFLOW, WORKFLOWS } from "../api/operations";
import { useCan } from "../auth";
import { Alert } from "../components/ui/alert";
import { Button } from "../components/ui/button";
import { Input } from "../components/ui/input";
import { Label } from "../components/ui/label";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../components/ui/table";

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
    <main className="flex flex-col gap-4 px-6 py-5">
      <h1>Workflows</h1>
      <div className="flex flex-wrap items-center gap-x-8 gap-y-3">
        <div className="flex items-center gap-2">
          <Label htmlFor="wf-search">Search</Label>
          <Input id="wf-search" type="search" className="w-56" value={search} onChange={(e) => setSearch(e.target.value)} />
        </div>
        {canCreate ? <CreateWorkflow /> : null}
      </div>
      {error ? <Alert variant="destructive">{error.message}</Alert> : null}
      {fetching && !data ? <p role="status">Loading…</p> : null}
      {data && !list.length ? <p>No workflows yet.</p> : null}
      <Table>
        <TableHeader>
          <TableRow>
            <TableHead>Name</TableHead>
            <TableHead>Published</TableHead>
            <TableHead>Updated</TableHead>
            <TableHead>Triggers</TableHead>
          </TableRow>
        </TableHeader>
        <TableBody>
          {list.map((w) => (
            <TableRow key={w.id}>
              <TableCell>
                <Link to={`/workflows/${w.id}`} className="font-medium">
                  {w.name}
                </Link>
                {w.description ? <div className="text-xs text-muted-foreground">{w.description}</div> : null}
              </TableCell>
              <TableCell>{w.latestVersion ? `v${w.latestVersion.version}` : "not published"}</TableCell>
              <TableCell>{new Date(w.updatedAt).toLocaleString()}</TableCell>
              <TableCell>
                <Link to={`/workflows/${w.id}/triggers`} aria-label={`Triggers of ${w.name}`}>
                  Triggers
                </Link>
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
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
    <form className="flex flex-wrap items-center gap-2" onSubmit={submit} aria-label="Create a workflow">
      <Label htmlFor="new-wf-name">New workflow</Label>
      <Input id="new-wf-name" className="w-56" required value={name} onChange={(e) => setName(e.target.value)} placeholder="Name" />
      <Button type="submit" variant="default" disabled={fetching}>
        Create
      </Button>
      {error ? (
        <span className="text-sm text-destructive" role="alert">
          {error}
        </span>
      ) : null}
    </form>
  );
}
