import { useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router-dom";
import { useMutation, useQuery } from "urql";
import { CREATE_WORKFLOW, WORKFLOWS } from "../api/operations";
import { useCan } from "../auth";
import { Field, FieldMessages, invalidProps } from "../components/FieldMessages";
import { EmptyState, LoadingState, Page, PageHeader } from "../components/Page";
import { Alert } from "../components/ui/alert";
import { Badge } from "../components/ui/badge";
import { Button } from "../components/ui/button";
import { Icon } from "../components/ui/icon";
import { Input } from "../components/ui/input";
import { Label } from "../components/ui/label";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../components/ui/table";
import { useFormCheck } from "../lib/useFormCheck";

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
    <Page>
      <PageHeader title="Workflows" description="Build them in the builder; publish a version to run it from a trigger, a schedule or a webhook." />
      <div className="flex flex-wrap items-start justify-between gap-x-8 gap-y-3">
        <div className="relative">
          <Label htmlFor="wf-search" className="sr-only">
            Search
          </Label>
          <Icon name="search" className="pointer-events-none absolute top-2 left-2.5 text-muted-foreground" />
          <Input
            id="wf-search"
            type="search"
            className="w-64 pl-8"
            placeholder="Search workflows"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
          />
        </div>
        {canCreate ? <CreateWorkflow /> : null}
      </div>
      {error ? <Alert variant="destructive">{error.message}</Alert> : null}
      {fetching && !data ? <LoadingState label="Loading the workflows…" /> : null}
      {data && !list.length ? (
        search ? (
          <EmptyState icon="search" title={`No workflow matches “${search}”`}>
            Try another word, or clear the search.
          </EmptyState>
        ) : (
          <EmptyState icon="workflow" title="No workflows yet">
            {canCreate ? "Give your first workflow a name above: it opens in the builder with a manual trigger." : "Nobody has made one in this workspace yet."}
          </EmptyState>
        )
      ) : null}
      {list.length ? (
        <Table aria-label="Workflows" className="table-fixed">
          <TableHeader>
            <TableRow>
              <TableHead className="w-[45%]">Name</TableHead>
              <TableHead className="w-[15%]">Published</TableHead>
              <TableHead className="w-[25%]">Updated</TableHead>
              <TableHead className="w-[15%]">Triggers</TableHead>
            </TableRow>
          </TableHeader>
          <TableBody>
            {list.map((w) => (
              <TableRow key={w.id}>
                <TableCell className="max-w-0">
                  <Link to={`/workflows/${w.id}`} className="block truncate font-medium" title={w.name}>
                    {w.name}
                  </Link>
                  {w.description ? (
                    <div className="truncate text-xs text-muted-foreground" title={w.description}>
                      {w.description}
                    </div>
                  ) : null}
                </TableCell>
                <TableCell>{w.latestVersion ? <Badge variant="success">v{w.latestVersion.version}</Badge> : <Badge>draft only</Badge>}</TableCell>
                <TableCell className="truncate text-muted-foreground">{new Date(w.updatedAt).toLocaleString()}</TableCell>
                <TableCell>
                  <Link to={`/workflows/${w.id}/triggers`} aria-label={`Triggers of ${w.name}`}>
                    Triggers
                  </Link>
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      ) : null}
    </Page>
  );
}

const NAME_MAX = 200;

function CreateWorkflow() {
  const navigate = useNavigate();
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const form = useFormCheck();
  const [{ fetching }, create] = useMutation(CREATE_WORKFLOW);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    setError(null);
    if (!form.check(e)) return;
    const res = await create({ input: { name: name.trim(), definition: STARTER_DEFINITION } });
    const payload = res.data?.createWorkflow;
    if (payload?.workflow) navigate(`/workflows/${payload.workflow.id}`);
    else setError(payload?.errors[0]?.message ?? res.error?.message ?? "Could not create the workflow.");
  };
  const messages = form.of("new-wf-name", error ? [error] : undefined);
  return (
    <form className="flex flex-wrap items-start gap-2" noValidate onSubmit={(e) => void submit(e)} aria-label="Create a workflow">
      <Field className="gap-1">
        <div className="flex items-center gap-2">
          <Label htmlFor="new-wf-name">New workflow</Label>
          <Input
            id="new-wf-name"
            className="w-60"
            required
            pattern=".*\S.*"
            title="Enter a name with at least one letter or digit."
            maxLength={NAME_MAX}
            data-missing="Enter a name for the new workflow."
            value={name}
            onChange={(e) => {
              setName(e.target.value);
              setError(null);
              form.clear("new-wf-name");
            }}
            placeholder="Name"
            {...invalidProps("new-wf-name-errors", messages)}
          />
          <Button type="submit" variant="default" disabled={fetching}>
            <Icon name="plus" />
            Create
          </Button>
        </div>
        <div className="pl-[6.5rem]" role="alert">
          <FieldMessages id="new-wf-name-errors" messages={messages} />
        </div>
      </Field>
    </form>
  );
}
