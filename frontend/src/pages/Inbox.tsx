// The approvals inbox: open tasks; read one, fill in its form, approve or reject.
import { useState } from "react";
import { Link } from "react-router-dom";
import { useMutation, useQuery } from "urql";
import { DECIDE, HUMAN_TASKS } from "../api/operations";
import type { HumanTask } from "../api/types";
import { useCan } from "../auth";
import { SchemaForm } from "../components/SchemaForm";
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
    <main className="page inbox">
      <h1>Approvals</h1>
      {error ? <p className="error" role="alert">{error.message}</p> : null}
      {data && !tasks.length ? <p>Nothing waits for a decision.</p> : null}
      <div className="inbox-body">
        <ul className="task-list" aria-label="Open tasks">
          {tasks.map((t) => (
            <li key={t.id}>
              <button type="button" aria-pressed={t.id === openId} onClick={() => setOpenId(t.id)}>
                <strong>{t.title}</strong>
                <span className="hint">
                  {t.run.workflow.name} · step {t.stepId} · {new Date(t.createdAt).toLocaleString()}
                </span>
              </button>
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
    <section className="task" aria-label={`Task ${task.title}`}>
      <h2>{task.title}</h2>
      {task.message ? <p className="task-message">{task.message}</p> : null}
      <p className="hint">
        For {task.assigneeRole.toLowerCase()}s · <Link to={`/runs/${task.run.id}`}>open the run</Link>
      </p>
      {schema ? (
        <SchemaForm schema={schema} formData={data} onChange={setData} idPrefix="task" readonly={!canDecide} />
      ) : null}
      {canDecide ? (
        <>
          <div className="field">
            <label htmlFor="task-comment">Comment</label>
            <textarea id="task-comment" value={comment} onChange={(e) => setComment(e.target.value)} />
          </div>
          {error ? (
            <p className="error" role="alert">
              {error}
            </p>
          ) : null}
          <div className="dialog-actions">
            <button type="button" className="primary" disabled={fetching} onClick={() => void send("APPROVE")}>
              Approve
            </button>
            <button type="button" className="danger" disabled={fetching} onClick={() => void send("REJECT")}>
              Reject
            </button>
          </div>
        </>
      ) : (
        <p className="hint">Your role may read this task but not decide it.</p>
      )}
    </section>
  );
}
