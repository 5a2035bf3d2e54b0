// The approvals inbox, live: open tasks (those you may decide, or every one), updated through the app's task feed
// (lib/taskFeed.tsx) as tasks open, get decided, expire or are cancelled. A task shows what the approver needs:
// its message, the run's input, the form its approval step declares, and a link to its run. It works from the
// keyboard: ↑/↓ (or j/k) move between tasks, a/r go to Approve/Reject, Enter confirms.
import { useCallback, useEffect, useId, useMemo, useRef, useState, type KeyboardEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { useMutation, useQuery } from "urql";
import { DECIDE, HUMAN_TASKS } from "../api/operations";
import { useCan } from "../auth";
import { JsonBlock } from "../components/ErrorBox";
import { Field } from "../components/FieldMessages";
import { SchemaForm } from "../components/SchemaForm";
import { Alert } from "../components/ui/alert";
import { Button } from "../components/ui/button";
import { Card, CardTitle } from "../components/ui/card";
import { Label } from "../components/ui/label";
import { Textarea } from "../components/ui/textarea";
import { asObject } from "../lib/json";
import { type LiveTask, useTaskFeed } from "../lib/taskFeed";
import { countdown, formatWhen, useNow } from "../lib/time";
import { cn } from "../lib/utils";

/**
 * The inbox's list: the tasks the server listed, with every later change the feed heard of applied (the newer of the
 * two by `updatedAt` wins), keeping the open ones (yours only, with `mine`), newest first.
 */
export function mergeTasks(listed: readonly LiveTask[], heard: ReadonlyMap<string, LiveTask>, mine: boolean): LiveTask[] {
  const byId = new Map(listed.map((t) => [t.id, t]));
  for (const [id, task] of heard) {
    const known = byId.get(id);
    if (!known || Date.parse(task.updatedAt) >= Date.parse(known.updatedAt)) byId.set(id, task);
  }
  return [...byId.values()]
    .filter((t) => t.status === "OPEN" && (!mine || t.assignedToMe))
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
}

function isTyping(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
}

export function InboxPage() {
  const canDecide = useCan("decideTask");
  const [params, setParams] = useSearchParams();
  // Deciders see the tasks they may decide unless they ask for every open task; other roles see every open one.
  const mine = canDecide && params.get("all") !== "1";
  const [{ data, error }, refetch] = useQuery({
    query: HUMAN_TASKS,
    variables: { status: "OPEN", mine },
    requestPolicy: "network-only",
  });
  const feed = useTaskFeed();
  const [heard, setHeard] = useState<ReadonlyMap<string, LiveTask>>(new Map());
  useEffect(() => feed.listen((task) => setHeard((h) => new Map(h).set(task.id, task))), [feed]);
  // After a gap in the feed the list is read again (a change may have been missed), and what was heard before is
  // kept only where it is newer than what the server then says.
  useEffect(() => feed.onResync(() => refetch({ requestPolicy: "network-only" })), [feed, refetch]);
  const tasks = useMemo(() => mergeTasks(data?.humanTasks.nodes ?? [], heard, mine), [data, heard, mine]);

  const [openId, setOpenId] = useState<string | null>(null);
  const task = tasks.find((t) => t.id === openId) ?? null;
  const [announce, setAnnounce] = useState("");
  const list = useRef<HTMLUListElement>(null);
  const panel = useRef<HTMLElement>(null);
  const focusTask = useCallback((id: string | null) => {
    if (!id) return;
    requestAnimationFrame(() => [...(list.current?.querySelectorAll<HTMLButtonElement>("[data-task]") ?? [])].find((b) => b.dataset.task === id)?.focus());
  }, []);

  const onKeyDown = (e: KeyboardEvent) => {
    if (e.altKey || e.ctrlKey || e.metaKey || isTyping(e.target)) return;
    const index = tasks.findIndex((t) => t.id === openId);
    const move = (to: number) => {
      const target = tasks[Math.max(0, Math.min(tasks.length - 1, to))];
      if (!target) return;
      e.preventDefault();
      setOpenId(target.id);
      focusTask(target.id);
    };
    if (e.key === "ArrowDown" || e.key === "j") move(index + 1);
    else if (e.key === "ArrowUp" || e.key === "k") move(index < 0 ? 0 : index - 1);
    else if ((e.key === "a" || e.key === "r") && task && canDecide) {
      e.preventDefault();
      panel.current?.querySelector<HTMLButtonElement>(`[data-decision="${e.key === "a" ? "APPROVE" : "REJECT"}"]`)?.focus();
    }
  };

  const decided = (decidedTask: LiveTask, word: string) => {
    const index = tasks.findIndex((t) => t.id === decidedTask.id);
    const next = tasks.filter((t) => t.id !== decidedTask.id)[Math.max(0, index)] ?? null;
    setAnnounce(`${word}: ${decidedTask.title}.`);
    setOpenId(next?.id ?? null);
    focusTask(next?.id ?? null);
    refetch({ requestPolicy: "network-only" });
  };

  return (
    <main className="flex flex-col gap-4 px-6 py-5" onKeyDown={onKeyDown}>
      <div className="flex flex-wrap items-baseline gap-x-4 gap-y-2">
        <h1>Approvals</h1>
        {canDecide ? (
          <label className="flex items-center gap-2 text-sm">
            <input
              type="checkbox"
              className="size-4 accent-primary"
              checked={!mine}
              onChange={(e) => setParams(e.target.checked ? { all: "1" } : {}, { replace: true })}
            />
            Show every open task, not only those I may decide
          </label>
        ) : null}
        <p className="text-xs text-muted-foreground" id="inbox-keys">
          Keys: ↑/↓ or j/k choose a task · a approve · r reject · Enter confirms
        </p>
      </div>
      <p className="sr-only" role="status">
        {announce}
      </p>
      {error ? <Alert variant="destructive">{error.message}</Alert> : null}
      {!data && !error ? <p role="status">Loading the tasks…</p> : null}
      {data && !tasks.length ? (
        <div className="rounded-lg border bg-card px-4 py-6 text-center text-muted-foreground">
          <p>Nothing waits for a decision.</p>
          <p className="text-xs">New tasks appear here as their runs reach an approval step.</p>
        </div>
      ) : null}
      <div className="flex items-start gap-4">
        {tasks.length ? (
          <ul ref={list} className="grid w-[360px] shrink-0 gap-1.5" aria-label="Open tasks" aria-describedby="inbox-keys" data-testid="inbox-tasks">
            {tasks.map((t) => (
              <li key={t.id}>
                <Button
                  data-task={t.id}
                  aria-pressed={t.id === openId}
                  onClick={() => setOpenId(t.id)}
                  className={cn(
                    "grid h-auto w-full justify-start gap-0.5 py-2 text-left whitespace-normal",
                    t.id === openId && "border-primary ring-2 ring-primary",
                  )}
                >
                  <strong className="break-words [overflow-wrap:anywhere]">{t.title}</strong>
                  <span className="text-xs font-normal text-muted-foreground">
                    {t.run.workflow.name} · step {t.stepId} · {formatWhen(t.createdAt)}
                  </span>
                </Button>
              </li>
            ))}
          </ul>
        ) : null}
        {task ? <TaskPanel key={task.id} ref={panel} task={task} onDecided={decided} /> : null}
        {!task && tasks.length ? <p className="text-muted-foreground">Choose a task to read it and decide.</p> : null}
      </div>
    </main>
  );
}

function TaskPanel({ task, onDecided, ref }: { task: LiveTask; onDecided: (task: LiveTask, word: string) => void; ref: React.Ref<HTMLElement> }) {
  const canDecide = useCan("decideTask");
  const id = useId();
  const [data, setData] = useState<unknown>({});
  const [comment, setComment] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [{ fetching }, decide] = useMutation(DECIDE);
  const schema = asObject(task.formSchema);
  const now = useNow(!!task.expiresAt);
  const send = async (decision: "APPROVE" | "REJECT") => {
    const res = await decide({ id: task.id, decision, comment: comment || null, data: schema ? data : null });
    const payload = res.data?.decideHumanTask;
    const problem = payload?.errors[0]?.message ?? (payload ? null : (res.error?.message ?? "Failed."));
    if (problem) setError(problem);
    else onDecided(task, decision === "APPROVE" ? "Approved" : "Rejected");
  };
  const input = asObject(task.run.input);
  return (
    <Card asChild className="max-w-2xl min-w-0 flex-1">
      <section ref={ref} aria-label={`Task ${task.title}`} data-testid="task-panel">
        <CardTitle asChild>
          <h2 className="break-words [overflow-wrap:anywhere]">{task.title}</h2>
        </CardTitle>
        <p className="text-xs text-muted-foreground">
          <Link to={`/workflows/${task.run.workflow.id}/runs`}>{task.run.workflow.name}</Link> v{task.run.version} · step {task.stepId} ·{" "}
          <Link to={`/runs/${task.run.id}`}>Open the run</Link> · for {task.assigneeRole.toLowerCase()}s
          {task.requiredApprovals > 1 ? ` · ${task.approvals} of ${task.requiredApprovals} approvals` : ""}
          {task.expiresAt ? (
            <>
              {" "}
              · expires <time dateTime={task.expiresAt}>{countdown(task.expiresAt, now)}</time>
            </>
          ) : null}
        </p>
        {task.message ? <p className="break-words whitespace-pre-wrap [overflow-wrap:anywhere]">{task.message}</p> : null}
        <section aria-labelledby={`${id}-input`} className="grid gap-1.5">
          <h3 id={`${id}-input`}>The run's input</h3>
          {input && Object.keys(input).length ? (
            <dl className="grid grid-cols-[minmax(6rem,auto)_1fr] gap-x-3 gap-y-1 rounded-md border bg-muted/30 p-2 text-sm" data-testid="task-input">
              {Object.entries(input).map(([key, value]) => (
                <div key={key} className="contents">
                  <dt className="font-medium break-words text-muted-foreground">{key}</dt>
                  <dd className="min-w-0">
                    {value !== null && typeof value === "object" ? (
                      <JsonBlock value={value} label={key} className="max-h-40" />
                    ) : (
                      <span className="break-words [overflow-wrap:anywhere]">{String(value)}</span>
                    )}
                  </dd>
                </div>
              ))}
            </dl>
          ) : input ? (
            <p className="text-sm text-muted-foreground">No input.</p>
          ) : (
            <JsonBlock value={task.run.input} label="Run input" />
          )}
        </section>
        {schema ? (
          <section aria-labelledby={`${id}-form`} className="grid gap-1.5">
            <h3 id={`${id}-form`}>What the approval asks for</h3>
            <SchemaForm schema={schema} formData={data} onChange={setData} idPrefix="task" readonly={!canDecide} />
          </section>
        ) : null}
        {canDecide ? (
          <>
            <Field>
              <Label htmlFor="task-comment">Comment</Label>
              <Textarea id="task-comment" className="font-sans text-sm" value={comment} onChange={(e) => setComment(e.target.value)} />
            </Field>
            {error ? <Alert variant="destructive">{error}</Alert> : null}
            <div className="flex flex-wrap items-center gap-2">
              <Button variant="default" data-decision="APPROVE" disabled={fetching} onClick={() => void send("APPROVE")}>
                Approve
              </Button>
              <Button variant="destructive-outline" data-decision="REJECT" disabled={fetching} onClick={() => void send("REJECT")}>
                Reject
              </Button>
              <span className="text-xs text-muted-foreground">a / r, then Enter</span>
            </div>
          </>
        ) : (
          <p className="text-muted-foreground">Your role may read this task but not decide it.</p>
        )}
      </section>
    </Card>
  );
}
