// A wait.event step in the run monitor: the event it waits for, its resume URL (a capability: shown, with a copy
// button, to the roles that may signal), and "Send signal" with a JSON payload (signalRun, OPERATOR and above). The
// server's refusal (ALREADY_RESUMED, NOT_WAITING, UNKNOWN_EVENT, INVALID_PAYLOAD) is said as it says it.
import { useId, useState, type FormEvent } from "react";
import { useMutation } from "urql";
import { SIGNAL_RUN } from "../api/operations";
import type { AwaitedEvent } from "../lib/runState";
import { formatWhen } from "../lib/time";
import { Field, FieldDescription, FieldMessages, invalidProps } from "./FieldMessages";
import { CopyButton } from "./Secret";
import { Alert } from "./ui/alert";
import { Button } from "./ui/button";
import { Input } from "./ui/input";
import { Label } from "./ui/label";
import { Textarea } from "./ui/textarea";

/** The payload as typed: empty is no payload (null); otherwise JSON, or a message saying what is wrong. */
export function parsePayload(text: string): { payload: unknown } | { problem: string } {
  if (!text.trim()) return { payload: null };
  try {
    return { payload: JSON.parse(text) as unknown };
  } catch (e) {
    return { problem: `The payload is not valid JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
}

const CODE_HINT: Record<string, string> = {
  ALREADY_RESUMED: "The step was resumed already; the first resume won.",
  NOT_WAITING: "The step is not waiting (not reached yet, timed out, or its run ended).",
  UNKNOWN_EVENT: "No waiting step of this run has that event name.",
  INVALID_PAYLOAD: "The payload does not match the step's payload schema; the step keeps waiting.",
};

export interface WaitEventPanelProps {
  runId: string;
  stepId: string;
  /** The event name: from the step's STEP_AWAITING_EVENT, else its config (`event`, default the step id). */
  event: string;
  awaited: AwaitedEvent | undefined;
  /** The step waits now (a signal can resume it). */
  waiting: boolean;
  canSignal: boolean;
  /** After a signal was accepted (the monitor reads the run again). */
  onSignalled?: () => void;
}

export function WaitEventPanel({ runId, stepId, event, awaited, waiting, canSignal, onSignalled }: WaitEventPanelProps) {
  const id = useId();
  const [text, setText] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const [refusal, setRefusal] = useState<{ message: string; code: string | null } | null>(null);
  const [sent, setSent] = useState(false);
  const [{ fetching }, signal] = useMutation(SIGNAL_RUN);
  const name = awaited?.event ?? event;

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    setSent(false);
    setRefusal(null);
    const parsed = parsePayload(text);
    if ("problem" in parsed) return setProblem(parsed.problem);
    setProblem(null);
    const res = await signal({ runId, name, payload: parsed.payload });
    const errors = res.data?.signalRun.errors ?? [];
    if (errors.length) {
      setRefusal({ message: errors.map((x) => x.message).join("; "), code: errors[0]?.code ?? null });
    } else if (!res.data) {
      setRefusal({ message: res.error?.message ?? "The signal was not sent.", code: null });
    } else {
      setSent(true);
      setText("");
      onSignalled?.();
    }
  };

  return (
    <section aria-label="Awaited event" className="grid gap-2 rounded-md border p-2" data-testid="wait-event">
      <h3>Event</h3>
      <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-0.5 [&_dt]:text-muted-foreground">
        <dt>Name</dt>
        <dd>
          <code data-testid="wait-event-name">{name}</code>
        </dd>
        {awaited?.expiresAt ? (
          <>
            <dt>Times out</dt>
            <dd>
              <time dateTime={awaited.expiresAt}>{formatWhen(awaited.expiresAt)}</time>
            </dd>
          </>
        ) : null}
      </dl>
      {waiting && awaited?.resumeUrl ? (
        <div className="grid gap-1">
          <Label htmlFor={`${id}-url`}>Resume URL</Label>
          <Input
            id={`${id}-url`}
            readOnly
            value={awaited.resumeUrl}
            className="font-mono text-xs"
            aria-describedby={`${id}-url-hint`}
            onFocus={(e) => e.currentTarget.select()}
            data-testid="resume-url"
          />
          <FieldDescription id={`${id}-url-hint`}>
            Single use: POST the payload as JSON to it. Whoever holds it may resume the step.
          </FieldDescription>
          <div className="flex items-center gap-2">
            <CopyButton value={awaited.resumeUrl} label="Copy URL" name="Copy the resume URL" />
          </div>
        </div>
      ) : waiting && !canSignal ? (
        <p className="text-xs text-muted-foreground">The resume URL is shown to operators and above.</p>
      ) : null}
      {waiting && canSignal ? (
        <form className="grid gap-2" onSubmit={(e) => void submit(e)} aria-label="Send signal">
          <Field>
            <Label htmlFor={`${id}-payload`}>Payload (JSON, optional)</Label>
            <Textarea
              id={`${id}-payload`}
              rows={4}
              spellCheck={false}
              value={text}
              placeholder='{"amount": 42}'
              onChange={(e) => {
                setText(e.target.value);
                setProblem(null);
              }}
              {...invalidProps(`${id}-payload-errors`, problem ? [problem] : undefined, `${id}-payload-hint`)}
            />
            <FieldDescription id={`${id}-payload-hint`}>
              Becomes the step's output.payload; the step's payload schema, if it has one, checks it.
            </FieldDescription>
            <FieldMessages id={`${id}-payload-errors`} messages={problem ? [problem] : undefined} />
          </Field>
          <Button type="submit" className="self-start" disabled={fetching}>
            Send signal
          </Button>
        </form>
      ) : null}
      {refusal ? (
        <Alert variant="destructive" role="alert" data-testid="signal-refused">
          <p>
            {refusal.code ? <strong>{refusal.code}: </strong> : null}
            {refusal.message}
          </p>
          {refusal.code && CODE_HINT[refusal.code] ? <p className="text-xs">{CODE_HINT[refusal.code]}</p> : null}
        </Alert>
      ) : null}
      <p className="min-h-4 text-sm text-success" role="status">
        {sent ? `Signal ${name} sent: step ${stepId} resumes.` : ""}
      </p>
    </section>
  );
}
