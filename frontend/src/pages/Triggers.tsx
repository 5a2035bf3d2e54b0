// The triggers of one workflow: webhooks (URL and signing secret, shown once) and cron schedules.
// Readers see them; trigger:manage creates, changes and deletes them.
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
import { ConfirmDialog } from "../components/Dialog";
import { FieldMessages, GeneralErrors, invalidProps } from "../components/FieldMessages";
import { ScheduleForm } from "../components/ScheduleForm";
import { CopyButton, SecretDialog, type SecretItem } from "../components/Secret";
import type { ScheduleInput, WebhookAuth, WorkflowTriggersQuery } from "../gql/graphql";
import { NO_ERRORS, fieldErrors, problemText, type FieldErrors } from "../lib/fieldErrors";
import { describeCron, emptySchedule, formatFire, scheduleValues } from "../lib/schedule";

type TriggersWorkflow = NonNullable<WorkflowTriggersQuery["workflow"]>;
type WebhookRow = TriggersWorkflow["webhooks"][number];
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
  const [{ data, error, fetching }, refetch] = useQuery({
    query: WORKFLOW_TRIGGERS,
    variables: { id },
    requestPolicy: "cache-and-network",
  });
  const canManage = useCan("manageTriggers");
  const reload = () => refetch({ requestPolicy: "network-only" });
  if (error) return <p className="page error" role="alert">{error.message}</p>;
  if (fetching && !data) return <p className="page-status" role="status">Loading…</p>;
  const workflow = data?.workflow;
  if (!workflow) return <p className="page">No such workflow. <Link to="/">Back to the workflows</Link></p>;
  return (
    <main className="page admin triggers">
      <h1>Triggers of {workflow.name}</h1>
      <p className="hint">
        <Link to={`/workflows/${workflow.id}`}>Open the builder</Link> · Webhooks and schedules start the latest
        published version
        {workflow.latestVersion ? ` (now v${workflow.latestVersion.version})` : ""}.
      </p>
      {!workflow.latestVersion ? (
        <p className="warning" role="note">
          This workflow is not published yet: deliveries and ticks fail until it is.
        </p>
      ) : null}
      {!canManage ? <p className="hint">Your role may see the triggers but not change them.</p> : null}
      <WebhooksSection workflowId={workflow.id} webhooks={workflow.webhooks} canManage={canManage} reload={reload} />
      <SchedulesSection workflowId={workflow.id} schedules={workflow.schedules} canManage={canManage} reload={reload} />
    </main>
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
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [shown, setShown] = useState<Shown | null>(null);
  const [deleting, setDeleting] = useState<{ id: string; label: string } | null>(null);
  const [deleteError, setDeleteError] = useState<string | null>(null);
  const [rowErrors, setRowErrors] = useState<Record<string, string>>({});
  const [notice, setNotice] = useState<string | null>(null);
  const [{ fetching: creating }, create] = useMutation(CREATE_WEBHOOK);
  const [, rotate] = useMutation(ROTATE_WEBHOOK_SECRET);
  const [{ fetching: updating }, update] = useMutation(UPDATE_WEBHOOK);
  const [{ fetching: removing }, remove] = useMutation(DELETE_WEBHOOK);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const res = await create({
      workflowId,
      input: { auth, enabled: true, rateLimitPerMinute: rate.trim() ? Number(rate) : null },
    });
    const payload = res.data?.createWebhook;
    if (payload?.webhook) {
      setRate("");
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
    const mapped = fieldErrors(payload?.errors, ["auth", "rateLimitPerMinute"], ["input"]);
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

  const doUpdate = async (hook: WebhookRow, input: { enabled?: boolean; rateLimitPerMinute?: number | null; clearRateLimit?: boolean }) => {
    const res = await update({ id: hook.id, input });
    const problem = problemText(res.data?.updateWebhook, res.error);
    rowProblem(hook.id, problem);
    if (!problem) reload();
    return !problem;
  };

  const confirmDelete = async () => {
    if (!deleting) return;
    const res = await remove({ id: deleting.id });
    const problem = problemText(res.data?.deleteWebhook, res.error);
    if (problem) {
      setDeleteError(problem);
      return;
    }
    setNotice(`${deleting.label} deleted: its URL answers 404 from now on.`);
    setDeleting(null);
    reload();
  };

  const err = (f: string) => errors.byField[f];
  return (
    <section aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Webhooks</h2>
      {webhooks.length ? (
        <table className="list" aria-label="Webhooks">
          <thead>
            <tr>
              <th scope="col">Webhook</th>
              <th scope="col">URL</th>
              <th scope="col">Signature</th>
              <th scope="col">Status</th>
              <th scope="col">Rate limit</th>
              {canManage ? <th scope="col">Actions</th> : null}
            </tr>
          </thead>
          <tbody>
            {webhooks.map((hook, i) => {
              const label = `Webhook ${i + 1}`;
              const problem = rowErrors[hook.id];
              return (
                <tr key={hook.id}>
                  <th scope="row">
                    {label}
                    <div className="hint">created {new Date(hook.createdAt).toLocaleString()}</div>
                  </th>
                  <td>
                    <code className="url">{hook.url}</code>
                    <div className="row tight">
                      <CopyButton value={hook.url} label="Copy URL" name={`Copy URL of ${label.toLowerCase()}`} />
                    </div>
                  </td>
                  <td>{authLabel(hook.auth)}</td>
                  <td>{hook.enabled ? "enabled" : "disabled (answers 404)"}</td>
                  <td>
                    {canManage ? (
                      <RateLimitForm hook={hook} label={label} busy={updating} onSave={(input) => doUpdate(hook, input)} />
                    ) : hook.rateLimitPerMinute ? (
                      `${hook.rateLimitPerMinute} per minute`
                    ) : (
                      "no limit"
                    )}
                  </td>
                  {canManage ? (
                    <td>
                      <div className="row tight wrap">
                        <button
                          type="button"
                          disabled={updating}
                          onClick={() => void doUpdate(hook, { enabled: !hook.enabled })}
                          aria-label={`${hook.enabled ? "Disable" : "Enable"} ${label.toLowerCase()}`}
                        >
                          {hook.enabled ? "Disable" : "Enable"}
                        </button>
                        {hook.auth !== "NONE" ? (
                          <button type="button" onClick={() => void doRotate(hook, label)} aria-label={`Rotate the secret of ${label.toLowerCase()}`}>
                            Rotate secret
                          </button>
                        ) : null}
                        <button
                          type="button"
                          className="danger"
                          aria-label={`Delete ${label.toLowerCase()}`}
                          onClick={() => {
                            setDeleteError(null);
                            setDeleting({ id: hook.id, label });
                          }}
                        >
                          Delete
                        </button>
                      </div>
                      {problem ? (
                        <p className="field-error" role="alert">
                          {problem}
                        </p>
                      ) : null}
                    </td>
                  ) : null}
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : (
        <p>No webhooks.</p>
      )}
      <p className="notice" role="status">
        {notice}
      </p>
      {canManage ? (
        <form className="card" onSubmit={submit} aria-labelledby={`${id}-new`}>
          <h3 id={`${id}-new`}>New webhook</h3>
          <div className="row wrap">
            <div className="field">
              <label htmlFor={`${id}-auth`}>Signature scheme</label>
              <select id={`${id}-auth`} value={auth} onChange={(e) => setAuth(e.target.value as WebhookAuth)}>
                {AUTHS.map((a) => (
                  <option key={a.value} value={a.value}>
                    {a.label}
                  </option>
                ))}
              </select>
              <FieldMessages id={`${id}-auth-errors`} messages={err("auth")} />
            </div>
            <div className="field">
              <label htmlFor={`${id}-rate`}>Rate limit per minute (optional)</label>
              <input
                id={`${id}-rate`}
                type="number"
                min={1}
                value={rate}
                onChange={(e) => setRate(e.target.value)}
                {...invalidProps(`${id}-rate-errors`, err("rateLimitPerMinute"))}
              />
              <FieldMessages id={`${id}-rate-errors`} messages={err("rateLimitPerMinute")} />
            </div>
          </div>
          <GeneralErrors messages={errors.general} />
          <button type="submit" className="primary" disabled={creating}>
            Create webhook
          </button>
        </form>
      ) : null}
      {shown ? <SecretDialog title={shown.title} intro={shown.intro} items={shown.items} onClose={() => setShown(null)} /> : null}
      {deleting ? (
        <ConfirmDialog
          title={`Delete ${deleting.label.toLowerCase()}?`}
          message={<p>Its URL answers 404 from now on; senders that still use it fail. This cannot be undone.</p>}
          confirmLabel="Delete webhook"
          busy={removing}
          error={deleteError}
          onConfirm={() => void confirmDelete()}
          onCancel={() => setDeleting(null)}
        />
      ) : null}
    </section>
  );
}

function RateLimitForm({
  hook,
  label,
  busy,
  onSave,
}: {
  hook: WebhookRow;
  label: string;
  busy: boolean;
  onSave: (input: { rateLimitPerMinute?: number | null; clearRateLimit?: boolean }) => Promise<boolean>;
}) {
  const id = useId();
  const saved = hook.rateLimitPerMinute ? String(hook.rateLimitPerMinute) : "";
  const [value, setValue] = useState(saved);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void onSave(value.trim() ? { rateLimitPerMinute: Number(value) } : { clearRateLimit: true });
  };
  return (
    <form className="row tight" onSubmit={submit} aria-label={`Rate limit of ${label.toLowerCase()}`}>
      <label htmlFor={id} className="visually-hidden">
        Deliveries per minute for {label.toLowerCase()} (empty: no limit)
      </label>
      <input id={id} type="number" min={1} className="narrow" value={value} placeholder="no limit" onChange={(e) => setValue(e.target.value)} />
      <button type="submit" disabled={busy || value.trim() === saved}>
        Save
      </button>
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
  const [deleting, setDeleting] = useState<{ id: string; label: string } | null>(null);
  const [deleteError, setDeleteError] = useState<string | null>(null);
  const [rowErrors, setRowErrors] = useState<Record<string, string>>({});
  const [notice, setNotice] = useState<string | null>(null);
  const [, create] = useMutation(CREATE_SCHEDULE);
  const [, updateSchedule] = useMutation(UPDATE_SCHEDULE);
  const [{ fetching: pausing }, pause] = useMutation(PAUSE_SCHEDULE);
  const [{ fetching: resuming }, resume] = useMutation(RESUME_SCHEDULE);
  const [{ fetching: removing }, remove] = useMutation(DELETE_SCHEDULE);
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
  const confirmDelete = async () => {
    if (!deleting) return;
    const res = await remove({ id: deleting.id });
    const problem = problemText(res.data?.deleteSchedule, res.error);
    if (problem) {
      setDeleteError(problem);
      return;
    }
    if (editing === deleting.id) setEditing(null);
    setNotice(`${deleting.label} deleted.`);
    setDeleting(null);
    reload();
  };

  return (
    <section aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Schedules</h2>
      {schedules.length ? (
        <table className="list" aria-label="Schedules">
          <thead>
            <tr>
              <th scope="col">Schedule</th>
              <th scope="col">Status</th>
              <th scope="col">Next fire</th>
              <th scope="col">Last fire</th>
              {canManage ? <th scope="col">Actions</th> : null}
            </tr>
          </thead>
          <tbody>
            {schedules.map((s, i) => {
              const label = `Schedule ${i + 1}`;
              const words = describeCron(s.cron);
              const problem = rowErrors[s.id];
              return (
                <tr key={s.id}>
                  <th scope="row">
                    {label}: <code>{s.cron}</code> in {s.timezone}
                    {words.ok ? <div className="hint">{words.text}</div> : null}
                  </th>
                  <td>{s.enabled ? "active" : "paused"}</td>
                  <td>{s.nextFireAt ? <time dateTime={s.nextFireAt}>{formatFire(s.nextFireAt, s.timezone)}</time> : "—"}</td>
                  <td>{s.lastFireAt ? <time dateTime={s.lastFireAt}>{formatFire(s.lastFireAt, s.timezone)}</time> : "never"}</td>
                  {canManage ? (
                    <td>
                      <div className="row tight wrap">
                        <button
                          type="button"
                          disabled={pausing || resuming}
                          aria-label={`${s.enabled ? "Pause" : "Resume"} ${label.toLowerCase()}`}
                          onClick={() => void toggle(s)}
                        >
                          {s.enabled ? "Pause" : "Resume"}
                        </button>
                        <button
                          type="button"
                          aria-label={`Edit ${label.toLowerCase()}`}
                          aria-expanded={editing === s.id}
                          onClick={() => setEditing(editing === s.id ? null : s.id)}
                        >
                          Edit
                        </button>
                        <button
                          type="button"
                          className="danger"
                          aria-label={`Delete ${label.toLowerCase()}`}
                          onClick={() => {
                            setDeleteError(null);
                            setDeleting({ id: s.id, label });
                          }}
                        >
                          Delete
                        </button>
                      </div>
                      {problem ? (
                        <p className="field-error" role="alert">
                          {problem}
                        </p>
                      ) : null}
                    </td>
                  ) : null}
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : (
        <p>No schedules.</p>
      )}
      <p className="notice" role="status">
        {notice}
      </p>
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
      {deleting ? (
        <ConfirmDialog
          title={`Delete ${deleting.label.toLowerCase()}?`}
          message={<p>It stops firing and its fire history goes; the runs it started stay.</p>}
          confirmLabel="Delete schedule"
          busy={removing}
          error={deleteError}
          onConfirm={() => void confirmDelete()}
          onCancel={() => setDeleting(null)}
        />
      ) : null}
    </section>
  );
}
