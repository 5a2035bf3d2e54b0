// The tenant's own settings (ADMIN, tenant:manage): its default error workflow, started when a live run of a workflow
// that names no error workflow of its own fails.
import { useMutation, useQuery } from "urql";
import { SET_DEFAULT_ERROR_WORKFLOW, TENANT_SETTINGS } from "../api/operations";
import { useCan } from "../auth";
import { ErrorWorkflowPicker } from "../components/ErrorWorkflowPicker";
import { LoadingState, Page, PageHeader } from "../components/Page";
import { SingleSignOnSettings } from "../components/SingleSignOnSettings";
import { Alert } from "../components/ui/alert";
import { Card, CardTitle } from "../components/ui/card";
import { problemText } from "../lib/fieldErrors";

export function SettingsPage() {
  const allowed = useCan("tenantSettings");
  const [{ data, error }] = useQuery({ query: TENANT_SETTINGS, requestPolicy: "cache-and-network", pause: !allowed });
  const [, setDefault] = useMutation(SET_DEFAULT_ERROR_WORKFLOW);
  if (!allowed) return <Page>Your role may not change the workspace's settings.</Page>;
  const tenant = data?.me.tenant;
  return (
    <Page>
      <PageHeader title="Settings" description={tenant ? `The settings of the workspace ${tenant.name} (${tenant.slug}).` : undefined} />
      {error ? <Alert variant="destructive">{error.message}</Alert> : null}
      {!tenant && !error ? <LoadingState label="Loading the settings…" rows={1} /> : null}
      {tenant ? (
        <Card className="max-w-xl">
          <CardTitle asChild>
            <h2>Failures</h2>
          </CardTitle>
          <ErrorWorkflowPicker
            label="Default error workflow"
            current={tenant.defaultErrorWorkflow ?? null}
            noneLabel="None"
            description="Started once, with the failed run's id, workflow, version, failed step, error and input, when a live run fails or times out and its workflow names no error workflow of its own (the builder's workflow settings)."
            editable
            onChoose={async (errorWorkflowId) => {
              const res = await setDefault({ errorWorkflowId });
              return problemText(res.data?.setDefaultErrorWorkflow, res.error, "The default error workflow was not saved.");
            }}
          />
        </Card>
      ) : null}
      {tenant ? <SingleSignOnSettings /> : null}
    </Page>
  );
}
