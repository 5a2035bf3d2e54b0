// Picks the workflow started when a run fails: a workflow's own error workflow (the builder) or the tenant's default
// (Settings). Saved as soon as it is chosen; the server's refusal (an archived workflow, one of another tenant) is
// said under the field. Without the permission to change it, the current choice is shown as a link.
import { useId, useState } from "react";
import { Link } from "react-router-dom";
import { useQuery } from "urql";
import { ERROR_WORKFLOW_CHOICES } from "../api/operations";
import { Field, FieldDescription, FieldMessages } from "./FieldMessages";
import { Label } from "./ui/label";
import { NativeSelect } from "./ui/native-select";

export interface NamedWorkflow {
  id: string;
  name: string;
}

export interface ErrorWorkflowPickerProps {
  label: string;
  current: NamedWorkflow | null;
  /** What "none" means here, e.g. "None (the tenant's default: Alerts)". */
  noneLabel: string;
  description: string;
  editable: boolean;
  /** Saves the choice (null: none); resolves to the server's error message, or null once saved. */
  onChoose: (workflowId: string | null) => Promise<string | null>;
}

export function ErrorWorkflowPicker({ label, current, noneLabel, description, editable, onChoose }: ErrorWorkflowPickerProps) {
  const id = useId();
  const [{ data, error: loadError }] = useQuery({ query: ERROR_WORKFLOW_CHOICES, pause: !editable, requestPolicy: "cache-and-network" });
  const [saving, setSaving] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  // What was saved last, until the server's answer (a refetch) says the same.
  const [chosen, setChosen] = useState<string | null | undefined>(undefined);
  const currentId = current?.id ?? null;
  const [seen, setSeen] = useState(currentId);
  if (seen !== currentId) {
    setSeen(currentId);
    setChosen(undefined);
  }

  if (!editable) {
    return (
      <div className="grid gap-0.5">
        <span className="text-sm font-medium">{label}</span>
        <span className="text-sm" data-testid="error-workflow-current">
          {current ? <Link to={`/workflows/${current.id}`}>{current.name}</Link> : <span className="text-muted-foreground">{noneLabel}</span>}
        </span>
      </div>
    );
  }

  const choices = data?.workflows.nodes ?? [];
  // The current one stays listed even when it is not among the first hundred.
  const options = current && !choices.some((w) => w.id === current.id) ? [current, ...choices] : choices;
  const messages = [problem, loadError ? `Could not list the workflows: ${loadError.message}` : null].filter((m): m is string => !!m);
  return (
    <Field>
      <Label htmlFor={id}>{label}</Label>
      <NativeSelect
        id={id}
        className="w-full"
        value={(chosen === undefined ? currentId : chosen) ?? ""}
        disabled={saving}
        aria-describedby={`${id}-hint${messages.length ? ` ${id}-errors` : ""}`}
        aria-invalid={problem ? true : undefined}
        onChange={async (e) => {
          const next = e.target.value || null;
          setSaving(true);
          setSaved(false);
          const refused = await onChoose(next);
          setSaving(false);
          setProblem(refused);
          setSaved(!refused);
          if (!refused) setChosen(next);
        }}
      >
        <option value="">{noneLabel}</option>
        {options.map((w) => (
          <option key={w.id} value={w.id}>
            {w.name}
          </option>
        ))}
      </NativeSelect>
      <FieldDescription id={`${id}-hint`}>{description}</FieldDescription>
      <FieldMessages id={`${id}-errors`} messages={messages.length ? messages : undefined} />
      <span role="status" className="text-xs text-muted-foreground">
        {saving ? "Saving…" : saved ? "Saved." : ""}
      </span>
    </Field>
  );
}
