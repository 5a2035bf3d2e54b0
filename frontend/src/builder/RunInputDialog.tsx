// The input of a run started from the builder ("Start run", "Test workflow"): the trigger's input form pre-filled
// with its schema's defaults, or, when the trigger declares no input fields, a JSON editor (pre-filled with `{}`)
// that says on the field why its text does not parse.
import { useState, type FormEvent, type ReactNode } from "react";
import { Field, FieldDescription, FieldMessages, invalidProps } from "../components/FieldMessages";
import { SchemaForm } from "../components/LazySchemaForm";
import { Button } from "../components/ui/button";
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "../components/ui/dialog";
import { Label } from "../components/ui/label";
import { Textarea } from "../components/ui/textarea";
import { hasInputFields, initialRunInput, parseJsonInput } from "../lib/runInput";

export interface RunInputDialogProps {
  open: boolean;
  title: string;
  /** Said under the title (what starting does: for a test run, its side effects). */
  description?: ReactNode;
  submitLabel: string;
  inputSchema: Record<string, unknown> | undefined;
  onSubmit: (input: unknown) => void | Promise<void>;
  onClose: () => void;
}

export function RunInputDialog({ open, onClose, ...props }: RunInputDialogProps) {
  return (
    <Dialog open={open} onOpenChange={(next) => !next && onClose()}>
      {/* Mounted only while open: each opening starts from the defaults again. */}
      {open ? <RunInputContent onClose={onClose} {...props} /> : null}
    </Dialog>
  );
}

function RunInputContent({ title, description, submitLabel, inputSchema, onSubmit, onClose }: Omit<RunInputDialogProps, "open">) {
  const [busy, setBusy] = useState(false);
  // The form's data, kept here so that a re-render (busy) never resets what was typed.
  const [data, setData] = useState(() => initialRunInput(inputSchema));
  const submit = async (input: unknown) => {
    setBusy(true);
    try {
      await onSubmit(input);
    } finally {
      setBusy(false);
    }
  };
  const footer = (
    <DialogFooter className="mt-4">
      <Button type="submit" variant="default" disabled={busy}>
        {submitLabel}
      </Button>
      <Button onClick={onClose}>Cancel</Button>
    </DialogFooter>
  );
  return (
    <DialogContent aria-describedby={description ? "run-input-description" : undefined}>
      <DialogHeader>
        <DialogTitle>{title}</DialogTitle>
        {description ? <DialogDescription id="run-input-description">{description}</DialogDescription> : null}
      </DialogHeader>
      {hasInputFields(inputSchema) ? (
        <SchemaForm
          schema={inputSchema}
          formData={data}
          onChange={setData}
          idPrefix="run-input"
          liveValidate
          onSubmit={(data) => void submit(data)}
        >
          {footer}
        </SchemaForm>
      ) : (
        <JsonInputForm initial={data} onSubmit={(value) => void submit(value)}>
          {footer}
        </JsonInputForm>
      )}
    </DialogContent>
  );
}

/** The run's input typed as JSON; the problem shows on the field and nothing is sent while it does not parse. */
function JsonInputForm({ initial, onSubmit, children }: { initial: unknown; onSubmit: (value: unknown) => void; children: ReactNode }) {
  const [text, setText] = useState(() => JSON.stringify(initial, null, 2));
  const [problem, setProblem] = useState<string | null>(null);
  const onFormSubmit = (event: FormEvent) => {
    event.preventDefault();
    const parsed = parseJsonInput(text);
    if ("problem" in parsed) {
      setProblem(parsed.problem);
      return;
    }
    onSubmit(parsed.value);
  };
  const messages = problem ? [problem] : undefined;
  return (
    <form onSubmit={onFormSubmit} aria-label="Run input" noValidate>
      <Field>
        <Label htmlFor="run-input-json">Input (JSON)</Label>
        <Textarea
          id="run-input-json"
          className="min-h-32"
          value={text}
          spellCheck={false}
          onChange={(e) => {
            setText(e.target.value);
            const parsed = parseJsonInput(e.target.value);
            setProblem("problem" in parsed ? parsed.problem : null);
          }}
          {...invalidProps("run-input-json-error", messages, "run-input-json-hint")}
        />
        <FieldDescription id="run-input-json-hint">The trigger declares no input fields: the run's input is this value.</FieldDescription>
        <FieldMessages id="run-input-json-error" messages={messages} />
      </Field>
      {children}
    </form>
  );
}
