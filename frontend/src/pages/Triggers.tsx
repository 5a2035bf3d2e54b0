// The triggers of one workflow: webhooks (URL and signing secret, shown once) and cron schedules.
// Readers see the schedules; trigger:manage sees the webhooks (a URL starts runs) and changes both.
import { useId, useState, type FormEvent } from "react";
import { Link, useParams } from "react-router-dom";
import { useMutation, useQuery } from "urql";
import {
  CREATE_SCHEDULE,
  CREATE_WEBHOOK,
  DELETE_SCHEDULE,
  DELETE_WEBHOOK,
  PAUSE_SCHEDULE,
  RESUME_SCHEDULE,
  ROTATE_WEBHOOK_SECRET,
  UPDATE_SCHEDULE,
  UPDATE_WEBHOOK,
  WORKFLOW_TRIGGERS,
} from "../api/admin";
import type { UserError } from "../api/types";
import { useCan } from "../auth";
import { ConfirmDelete, RowActions } from "../components/ConfirmDelete";
import { Field, FieldMessages, GeneralErrors, Notice, invalidProps } from "../components/FieldMessages";
import { ScheduleForm } from "../components/ScheduleForm";
import { StatusBadge } from "../components/StatusBadge";
import { CopyButton, SecretDialog, type SecretItem } from "../components/Secret";
import { Alert } from "../components/ui/alert";
import { Button } from "../components/ui/button";
import { Card, CardTitle } from "../components/ui/card";
import { Input } from "../components/ui/input";
import { Label } from "../components/ui/label";
import { NativeSelect } from "../components/ui/native-select";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../components/ui/table";
import { EmptyState, LoadingState, Page, PageHeader } from "../components/Page";
import { PageProblem } from "../components/Workspace";
import type { ScheduleInput, WebhookAuth, WorkflowTriggersQuery } from "../gql/graphql";
import { NO_ERRORS, fieldErrors, problemText, type FieldErrors } from "../lib/fieldErrors";
import { describeCron, emptySchedule, formatFire, scheduleValues } from "../lib/schedule";

type TriggersWorkflow = NonNullable<WorkflowTriggersQuery["workflow"]>;
type WebhookRow = NonNullable<TriggersWorkflow["webhooks"]>[number];
type ScheduleRow = TriggersWorkflow["schedules"][number];

const AUTHS: { value: WebhookAuth; label: string }[] = [
  { value: "STANDARD", label: "Standard Webhooks signature" },
  { value: "GITHUB", label: "GitHub signature (X-Hub-Signature-256)" },
  { value: "STRIPE", label: "Stripe signature" },
  { value: "NONE", label: "None: unsigned (anyone with the URL)" },
];
const authLabel = (a: WebhookAuth) => AUTHS.find((x) => x.value === a)?.label ?? a;

interface Shown {
  title: string;
  intro: string;
  items: SecretItem[];
}

export function TriggersPage() {
  const { id = "" } = useParams();
  const canManage = useCan("manageTriggers");
  // A webhook's id is in its URL, which starts runs: only trigger:manage may read them.
  const [{ data, error, fetching }, refetch] = useQuery({
    query: WORKFLOW_TRIGGERS,
    variables: { id, withWebhooks: canManage },
    requestPolicy: "cache-and-network",
  });
  const reload = () => refetch({ requestPolicy: "network-only" });
  if (error) return <PageProblem>{error.message}</PageProblem>;
  if (fetching && !data)
    return (
      <Page>
        <LoadingState label="Loading the triggers…" />
      </Page>
    );
  const workflow = data?.workflow;
  if (!workflow)
    return (
      <p className="px-6 py-4">
        No such workflow. <Link to="/">Back to the workflows</Link>
      </p>
    );
  return (
    <Page>
      <PageHeader
        title={<span title={workflow.name}>Triggers of {workflow.name}</span>}
        description={
          <>
            <Link to={`/workflows/${workflow.id}`}>Open the builder</Link> · <Link to={`/workflows/${workflow.id}/runs`}>Its runs</Link> ·
            Webhooks and schedules start the latest published version
            {workflow.latestVersion ? ` (now v${workflow.latestVersion.version})` : ""}.
          </>
        }
      />
      {!workflow.latestVersion ? (
        <Alert variant="warning" role="note">
          This workflow is not published yet: deliveries and ticks fail until it is.
        </Alert>
      ) : null}
      {!canManage ? <p className="text-muted-foreground">Your role may see the triggers but not change them.</p> : null}
      {canManage ? (
        <WebhooksSection workflowId={workflow.id} webhooks={workflow.webhooks ?? []} canManage={canManage} reload={reload} />
      ) : (
        <section aria-labelledby="webhooks-hidden-title" className="flex flex-col gap-3">
          <h2 id="webhooks-hidden-title" className="text-lg">
            Webhooks
          </h2>
          <p className="text-muted-foreground">Webhooks are shown to roles that manage triggers: a webhook's URL starts runs.</p>
        </section>
      )}
      <SchedulesSection workflowId={workflow.id} schedules={workflow.schedules} canManage={canManage} reload={reload} />
    </Page>
  );
}

function WebhooksSection({
  workflowId,
  webhooks,
  canManage,
  reload,
}: {
  workflowId: string;
  webhooks: WebhookRow[];
  canManage: boolean;
  reload: () => void;
}) {
  const id = useId();
  const [auth, setAuth] = useState<WebhookAuth>("STANDARD");
  const [rate, setRate] = useState("");
  const [replayHours, setReplayHours] = useState("");
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [shown, setShown] = useState<Shown | null>(null);
  const [rowErrors, setRowErrors] = useState<Record<string, string>>({});
  const [notice, setNotice] = useState<string | null>(null);
  const [{ fetching: creating }, create] = useMutation(CREATE_WEBHOOK);
  const [, rotate] = useMutation(ROTATE_WEBHOOK_SECRET);
  const [{ fetching: updating }, update] = useMutation(UPDATE_WEBHOOK);
  const [, remove] = useMutation(DELETE_WEBHOOK);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const res = await create({
      workflowId,
      input: {
        auth,
        enabled: true,
        rateLimitPerMinute: rate.trim() ? Number(rate) : null,
        replayWindowS: replayHours.trim() ? Math.round(Number(replayHours) * 3600) : null,
      },
    });
    const payload = res.data?.createWebhook;
    if (payload?.webhook) {
      setRate("");
      setReplayHours("");
      setErrors(NO_ERRORS);
      const items: SecretItem[] = [{ label: "URL", value: payload.webhook.url, copyLabel: "Copy the URL" }];
      if (payload.secret) items.push({ label: "Signing secret", value: payload.secret, copyLabel: "Copy the secret" });
      setShown({
        title: "Webhook created",
        intro: payload.secret
          ? "The signing secret is shown once: copy it now and give it to the sender. It cannot be shown again."
          : "This webhook takes unsigned deliveries: anyone who knows the URL can start runs.",
        items,
      });
      reload();
      return;
    }
    const mapped = fieldErrors(payload?.errors, ["auth", "rateLimitPerMinute", "replayWindowS"], ["input"]);
    if (!payload) mapped.general.push(res.error?.message ?? "Could not create the webhook.");
    setErrors(mapped);
  };

  const rowProblem = (hookId: string, problem: string | null) => setRowErrors((e) => ({ ...e, [hookId]: problem ?? "" }));

  const doRotate = async (hook: WebhookRow, label: string) => {
    const res = await rotate({ id: hook.id });
    const payload = res.data?.rotateWebhookSecret;
    const problem = problemText(payload, res.error);
    rowProblem(hook.id, problem);
    if (problem || !payload?.secret) return;
    const until = payload.webhook?.previousSecretExpiresAt;
    setShown({
      title: `New secret of ${label}`,
      intro:
        "The new signing secret is shown once: copy it now." +
        (until ? ` The previous secret keeps verifying until ${new Date(until).toLocaleString()}.` : ""),
      items: [{ label: "Signing secret", value: payload.secret, copyLabel: "Copy the secret" }],
    });
    reload();
  };

  const doUpdate = async (hook: WebhookRow, input: WebhookChange) => {
    const res = await update({ id: hook.id, input });
    const problem = problemText(res.data?.updateWebhook, res.error);
    rowProblem(hook.id, problem);
    if (!problem) reload();
    return !problem;
  };

  const deleteOne = async (hook: WebhookRow, label: string) => {
    const res = await remove({ id: hook.id });
    const problem = problemText(res.data?.deleteWebhook, res.error);
    if (problem) return problem;
    setNotice(`${label} deleted: its URL answers 404 from now on.`);
    reload();
    return null;
  };

  const err = (f: string) => errors.byField[f];
  return (
    <section aria-labelledby={`${id}-title`} className="flex flex-col gap-3">
      <h2 id={`${id}-title`} className="text-lg">
        Webhooks
      </h2>
      <p className="text-sm">
        Each delivery starts a run: <Link to={`/workflows/${workflowId}/runs?trigger=webhook`}>the runs its webhooks started</Link>, with the
        delivery's key in each run's header.
      </p>
      {webhooks.length ? (
        <Table aria-label="Webhooks">
          <TableHeader>
            <TableRow>
              <TableHead>Webhook</TableHead>
              <TableHead>URL</TableHead>
              <TableHead>Signature</TableHead>
              <TableHead>Status</TableHead>
              <TableHead>Rate limit</TableHead>
              <TableHead>Replay window</TableHead>
              {canManage ? <TableHead>Actions</TableHead> : null}
            </TableRow>
          </TableHeader>
          <TableBody>
            {webhooks.map((hook, i) => {
              const label = `Webhook ${i + 1}`;
              return (
                <TableRow key={hook.id}>
                  <TableHead scope="row">
                    {label}
                    <div className="text-xs font-normal text-muted-foreground">created {new Date(hook.createdAt).toLocaleString()}</div>
                  </TableHead>
                  <TableCell>
                    <code className="font-mono text-xs break-all">{hook.url}</code>
                    <div className="mt-1 flex items-center gap-1.5">
                      <CopyButton value={hook.url} label="Copy URL" name={`Copy URL of ${label.toLowerCase()}`} />
                    </div>
                  </TableCell>
                  <TableCell>{authLabel(hook.auth)}</TableCell>
                  <TableCell>{hook.enabled ? "enabled" : "disabled (answers 404)"}</TableCell>
                  <TableCell>
                    {canManage ? (
                      <SettingForm
                        name={`Rate limit of ${label.toLowerCase()}`}
                        label={`Deliveries per minute for ${label.toLowerCase()} (empty: no limit)`}
                        saved={hook.rateLimitPerMinute ? String(hook.rateLimitPerMinute) : ""}
                        placeholder="no limit"
                        busy={updating}
                        onSave={(value) =>
                          doUpdate(hook, value ? { rateLimitPerMinute: Number(value) } : { clearRateLimit: true })
                        }
                      />
                    ) : hook.rateLimitPerMinute ? (
                      `${hook.rateLimitPerMinute} per minute`
                    ) : (
                      "no limit"
                    )}
                  </TableCell>
                  <TableCell>
                    {canManage ? (
                      <SettingForm
                        name={`Replay window of ${label.toLowerCase()}`}
                        label={`Hours ${label.toLowerCase()} refuses a repeated delivery (empty: off)`}
                        saved={hook.replayWindowS ? String(hook.replayWindowS / 3600) : ""}
                        placeholder="off"
                        step="any"
                        busy={updating}
                        onSave={(value) => doUpdate(hook, { replayWindowS: value ? Math.round(Number(value) * 3600) : 0 })}
                      />
                    ) : hook.replayWindowS ? (
                      `${hook.replayWindowS / 3600} h`
                    ) : (
                      "off"
                    )}
                  </TableCell>
                  {canManage ? (
                    <TableCell>
                      <RowActions problem={rowErrors[hook.id]}>
                        <Button
                          size="xs"
                          disabled={updating}
                          onClick={() => void doUpdate(hook, { enabled: !hook.enabled })}
                          aria-label={`${hook.enabled ? "Disable" : "Enable"} ${label.toLowerCase()}`}
                        >
                          {hook.enabled ? "Disable" : "Enable"}
                        </Button>
                        {hook.auth !== "NONE" ? (
                          <Button size="xs" onClick={() => void doRotate(hook, label)} aria-label={`Rotate secret of ${label.toLowerCase()}`}>
                            Rotate secret
                          </Button>
                        ) : null}
                        <ConfirmDelete
                          name={`Delete ${label.toLowerCase()}`}
                          title={`Delete ${label.toLowerCase()}?`}
                          message="Its URL answers 404 from now on; senders that still use it fail. This cannot be undone."
                          confirmLabel="Delete webhook"
                          onConfirm={() => deleteOne(hook, label)}
                        />
                      </RowActions>
                    </TableCell>
                  ) : null}
                </TableRow>
              );
            })}
          </TableBody>
        </Table>
      ) : (
        <EmptyState icon="workflow" title="No webhooks" className="py-6">
          {canManage ? "Create one to start a run from another system's signed POST." : null}
        </EmptyState>
      )}
      <Notice>{notice}</Notice>
      {canManage ? (
        <Card asChild className="max-w-3xl">
          <form onSubmit={submit} aria-labelledby={`${id}-new`}>
            <CardTitle asChild>
              <h3 id={`${id}-new`}>New webhook</h3>
            </CardTitle>
            <div className="flex flex-wrap items-start gap-3">
              <Field>
                <Label htmlFor={`${id}-auth`}>Signature scheme</Label>
                <NativeSelect id={`${id}-auth`} value={auth} onChange={(e) => setAuth(e.target.value as WebhookAuth)}>
                  {AUTHS.map((a) => (
                    <option key={a.value} value={a.value}>
                      {a.label}
                    </option>
                  ))}
                </NativeSelect>
                <FieldMessages id={`${id}-auth-errors`} messages={err("auth")} />
              </Field>
              <Field>
                <Label htmlFor={`${id}-rate`}>Rate limit per minute (optional)</Label>
                <Input
                  id={`${id}-rate`}
                  type="number"
                  min={1}
                  value={rate}
                  onChange={(e) => setRate(e.target.value)}
                  {...invalidProps(`${id}-rate-errors`, err("rateLimitPerMinute"))}
                />
                <FieldMessages id={`${id}-rate-errors`} messages={err("rateLimitPerMinute")} />
              </Field>
              <Field>
                <Label htmlFor={`${id}-replay`}>Replay window in hours (optional)</Label>
                <Input
                  id={`${id}-replay`}
                  type="number"
                  min={0}
                  step="any"
                  value={replayHours}
                  onChange={(e) => setReplayHours(e.target.value)}
                  {...invalidProps(`${id}-replay-errors`, err("replayWindowS"), `${id}-replay-help`)}
                />
                <p id={`${id}-replay-help`} className="text-xs text-muted-foreground">
                  A repeat of a delivery inside it is refused, even once its run is deleted. GitHub signs no
                  timestamp: set one for GitHub webhooks.
                </p>
                <FieldMessages id={`${id}-replay-errors`} messages={err("replayWindowS")} />
              </Field>
            </div>
            <GeneralErrors messages={errors.general} />
            <Button type="submit" variant="default" className="self-start" disabled={creating}>
              Create webhook
            </Button>
          </form>
        </Card>
      ) : null}
      {shown ? <SecretDialog title={shown.title} intro={shown.intro} items={shown.items} onClose={() => setShown(null)} /> : null}
    </section>
  );
}

type WebhookChange = {
  enabled?: boolean;
  rateLimitPerMinute?: number | null;
  clearRateLimit?: boolean;
  replayWindowS?: number | null;
};

/** One number setting of a webhook row, edited in place (empty: the setting's "off"). */
function SettingForm({
  name,
  label,
  saved,
  placeholder,
  step,
  busy,
  onSave,
}: {
  name: string;
  label: string;
  saved: string;
  placeholder: string;
  step?: string;
  busy: boolean;
  onSave: (value: string) => Promise<boolean>;
}) {
  const id = useId();
  const [value, setValue] = useState(saved);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void onSave(value.trim());
  };
  return (
    <form className="flex items-center gap-1" onSubmit={submit} aria-label={name}>
      <Label htmlFor={id} className="sr-only">
        {label}
      </Label>
      <Input id={id} type="number" min={0} step={step} className="w-24" value={value} placeholder={placeholder} onChange={(e) => setValue(e.target.value)} />
      <Button type="submit" size="xs" disabled={busy || value.trim() === saved}>
        Save
      </Button>
    </form>
  );
}

/** A mutation payload's errors, or the transport error as one general problem. */
function payloadErrors(payload: { errors: readonly UserError[] } | null | undefined, error: { message: string } | undefined): readonly UserError[] {
  if (payload) return payload.errors;
  return [{ path: [], message: error?.message ?? "The request failed.", code: "ERROR" }];
}

function SchedulesSection({
  workflowId,
  schedules,
  canManage,
  reload,
}: {
  workflowId: string;
  schedules: ScheduleRow[];
  canManage: boolean;
  reload: () => void;
}) {
  const id = useId();
  const [editing, setEditing] = useState<string | null>(null);
  const [rowErrors, setRowErrors] = useState<Record<string, string>>({});
  const [notice, setNotice] = useState<string | null>(null);
  const [, create] = useMutation(CREATE_SCHEDULE);
  const [, updateSchedule] = useMutation(UPDATE_SCHEDULE);
  const [{ fetching: pausing }, pause] = useMutation(PAUSE_SCHEDULE);
  const [{ fetching: resuming }, resume] = useMutation(RESUME_SCHEDULE);
  const [, remove] = useMutation(DELETE_SCHEDULE);
  const edited = schedules.find((s) => s.id === editing);

  const createOne = async (input: ScheduleInput) => {
    const res = await create({ workflowId, input });
    return payloadErrors(res.data?.createSchedule, res.error);
  };
  const updateOne = async (scheduleId: string, input: ScheduleInput) => {
    const res = await updateSchedule({ id: scheduleId, input });
    return payloadErrors(res.data?.updateSchedule, res.error);
  };
  const toggle = async (s: ScheduleRow) => {
    const res = s.enabled ? await pause({ id: s.id }) : await resume({ id: s.id });
    const payload = res.data && ("pauseSchedule" in res.data ? res.data.pauseSchedule : res.data.resumeSchedule);
    const problem = problemText(payload, res.error);
    setRowErrors((e) => ({ ...e, [s.id]: problem ?? "" }));
    if (!problem) reload();
  };
  const deleteOne = async (s: ScheduleRow, label: string) => {
    const res = await remove({ id: s.id });
    const problem = problemText(res.data?.deleteSchedule, res.error);
    if (problem) return problem;
    if (editing === s.id) setEditing(null);
    setNotice(`${label} deleted.`);
    reload();
    return null;
  };

  return (
    <section aria-labelledby={`${id}-title`} className="flex flex-col gap-3">
      <h2 id={`${id}-title`} className="text-lg">
        Schedules
      </h2>
      {schedules.length ? (
        <p className="text-sm">
          <Link to={`/workflows/${workflowId}/runs?trigger=schedule`}>The runs its schedules started</Link>
        </p>
      ) : null}
      {schedules.length ? (
        <Table aria-label="Schedules">
          <TableHeader>
            <TableRow>
              <TableHead>Schedule</TableHead>
              <TableHead>Status</TableHead>
              <TableHead>Next fire</TableHead>
              <TableHead>Last fire</TableHead>
              {canManage ? <TableHead>Actions</TableHead> : null}
            </TableRow>
          </TableHeader>
          <TableBody>
            {schedules.map((s, i) => {
              const label = `Schedule ${i + 1}`;
              const words = describeCron(s.cron);
              return (
                <TableRow key={s.id}>
                  <TableHead scope="row">
                    {label}: <code className="font-mono">{s.cron}</code> in {s.timezone}
                    {words.ok ? <div className="text-xs font-normal text-muted-foreground">{words.text}</div> : null}
                  </TableHead>
                  <TableCell>{s.enabled ? "active" : "paused"}</TableCell>
                  <TableCell>
                    {s.nextFireAt ? <time dateTime={s.nextFireAt}>{formatFire(s.nextFireAt, s.timezone)}</time> : "—"}
                  </TableCell>
                  <TableCell>
                    {s.lastFireAt ? <time dateTime={s.lastFireAt}>{formatFire(s.lastFireAt, s.timezone)}</time> : "never"}
                    {s.lastFire ? (
                      <div className="flex flex-wrap items-center gap-1.5 text-xs">
                        {s.lastFire.run ? (
                          <>
                            <Link to={`/runs/${s.lastFire.run.id}`} aria-label={`The run of ${label.toLowerCase()}'s last fire`}>
                              its run
                            </Link>
                            <StatusBadge status={s.lastFire.run.status} />
                          </>
                        ) : (
                          <span className="text-muted-foreground">{s.lastFire.outcome}{s.lastFire.error ? `: ${s.lastFire.error}` : ""}</span>
                        )}
                      </div>
                    ) : null}
                  </TableCell>
                  {canManage ? (
                    <TableCell>
                      <RowActions problem={rowErrors[s.id]}>
                        <Button
                          size="xs"
                          disabled={pausing || resuming}
                          aria-label={`${s.enabled ? "Pause" : "Resume"} ${label.toLowerCase()}`}
                          onClick={() => void toggle(s)}
                        >
                          {s.enabled ? "Pause" : "Resume"}
                        </Button>
                        <Button
                          size="xs"
                          aria-label={`Edit ${label.toLowerCase()}`}
                          aria-expanded={editing === s.id}
                          onClick={() => setEditing(editing === s.id ? null : s.id)}
                        >
                          Edit
                        </Button>
                        <ConfirmDelete
                          name={`Delete ${label.toLowerCase()}`}
                          title={`Delete ${label.toLowerCase()}?`}
                          message="It stops firing and its fire history goes; the runs it started stay."
                          confirmLabel="Delete schedule"
                          onConfirm={() => deleteOne(s, label)}
                        />
                      </RowActions>
                    </TableCell>
                  ) : null}
                </TableRow>
              );
            })}
          </TableBody>
        </Table>
      ) : (
        <EmptyState icon="workflow" title="No schedules" className="py-6">
          {canManage ? "Add one below to start runs on a cron expression, in your timezone." : null}
        </EmptyState>
      )}
      <Notice>{notice}</Notice>
      {canManage && edited ? (
        <ScheduleForm
          key={edited.id}
          title={`Edit schedule ${schedules.indexOf(edited) + 1}`}
          submitLabel="Save schedule"
          initial={scheduleValues(edited)}
          onSubmit={(input) => updateOne(edited.id, input)}
          onSaved={() => {
            setEditing(null);
            setNotice("Schedule saved; a changed expression counts from now.");
            reload();
          }}
          onCancel={() => setEditing(null)}
        />
      ) : null}
      {canManage ? (
        <ScheduleForm
          title="New schedule"
          submitLabel="Create schedule"
          initial={emptySchedule()}
          resetOnSave
          onSubmit={createOne}
          onSaved={() => {
            setNotice("Schedule created: the next tick after now fires first.");
            reload();
          }}
        />
      ) : null}
    </section>
  );
}
