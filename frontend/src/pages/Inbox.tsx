// The approvals inbox: open tasks; read one, fill in its form, approve or reject.
import { useState } from "react";
import { Link } from "react-router-dom";
import { useMutation, useQuery } from "urql";
import { DECIDE, HUMAN_TASKS } from "../api/operations";
import type { HumanTask } from "../api/types";
import { useCan } from "../auth";
import { Field } from "../components/FieldMessages";
import { SchemaForm } from "../components/SchemaForm";
import { Alert } from "../components/ui/alert";
import { Button } from "../components/ui/button";
import { Card, CardTitle } from "../components/ui/card";
import { Label } from "../components/ui/label";
import { Textarea } from "../components/ui/textarea";
import { cn } from "../lib/utils";
import { asObject } from "../lib/json";

export function InboxPage() {
  const [{ data, error }, refetch] = useQuery({
    query: HUMAN_TASKS,
    variables: { status: "OPEN" },
    requestPolicy: "network-only",
  });
  const [openId, setOpenId] = useState<string | null>(null);
  const tasks = data?.humanTasks.nodes ?? [];
  const task = tasks.find((t) => t.id === openId);
  return (
    <main className="flex flex-col gap-4 px-6 py-5">
      <h1>Approvals</h1>
      {error ? <Alert variant="destructive">{error.message}</Alert> : null}
      {data && !tasks.length ? <p>Nothing waits for a decision.</p> : null}
      <div className="flex items-start gap-4">
        <ul className="grid w-[340px] shrink-0 gap-1.5" aria-label="Open tasks">
          {tasks.map((t) => (
            <li key={t.id}>
              <Button
                aria-pressed={t.id === openId}
                onClick={() => setOpenId(t.id)}
                className={cn(
                  "grid h-auto w-full justify-start gap-0.5 py-2 text-left whitespace-normal",
                  t.id === openId && "border-primary ring-2 ring-primary",
                )}
              >
                <strong>{t.title}</strong>
                <span className="text-xs font-normal text-muted-foreground">
                  {t.run.workflow.name} · step {t.stepId} · {new Date(t.createdAt).toLocaleString()}
                </span>
              </Button>
            </li>
          ))}
        </ul>
        {task ? (
          <TaskPanel
            key={task.id}
            task={task}
            onDecided={() => {
              setOpenId(null);
              refetch({ requestPolicy: "network-only" });
            }}
          />
        ) : null}
      </div>
    </main>
  );
}

function TaskPanel({ task, onDecided }: { task: HumanTask; onDecided: () => void }) {
  const canDecide = useCan("decideTask");
  const [data, setData] = useState<unknown>({});
  const [comment, setComment] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [{ fetching }, decide] = useMutation(DECIDE);
  const schema = asObject(task.formSchema);
  const send = async (decision: "APPROVE" | "REJECT") => {
    const res = await decide({ id: task.id, decision, comment: comment || null, data: schema ? data : null });
    const payload = res.data?.decideHumanTask;
    const problem = payload?.errors[0]?.message ?? (payload ? null : res.error?.message ?? "Failed.");
    if (problem) setError(problem);
    else onDecided();
  };
  return (
    <Card asChild className="max-w-xl flex-1">
      <section aria-label={`Task ${task.title}`}>
        <CardTitle asChild>
          <h2>{task.title}</h2>
        </CardTitle>
        {task.message ? <p>{task.message}</p> : null}
        <p className="text-xs text-muted-foreground">
          For {task.assigneeRole.toLowerCase()}s · <Link to={`/runs/${task.run.id}`}>open the run</Link>
        </p>
        {schema ? (
          <SchemaForm schema={schema} formData={data} onChange={setData} idPrefix="task" readonly={!canDecide} />
        ) : null}
        {canDecide ? (
          <>
            <Field>
              <Label htmlFor="task-comment">Comment</Label>
              <Textarea id="task-comment" className="font-sans text-sm" value={comment} onChange={(e) => setComment(e.target.value)} />
            </Field>
            {error ? <Alert variant="destructive">{error}</Alert> : null}
            <div className="flex gap-2">
              <Button variant="default" disabled={fetching} onClick={() => void send("APPROVE")}>
                Approve
              </Button>
              <Button variant="destructive-outline" disabled={fetching} onClick={() => void send("REJECT")}>
                Reject
              </Button>
            </div>
          </>
        ) : (
          <p className="text-muted-foreground">Your role may read this task but not decide it.</p>
        )}
      </section>
    </Card>
  );
}
