// An error as people read it: its type and message as wrapped text, the whole JSON below it (wrapped too, never cut
// off at the panel's edge), and a button that copies the JSON.
import { asObject } from "../lib/json";
import { CodeBlock } from "./CodeBlock";
import { cn } from "../lib/utils";
import { CopyButton } from "./Secret";

export function ErrorBox({ error, label, className }: { error: unknown; label: string; className?: string }) {
  const fields = asObject(error);
  const type = typeof fields?.type === "string" ? fields.type : null;
  const message = typeof fields?.message === "string" ? fields.message : typeof error === "string" ? error : null;
  const json = JSON.stringify(error, null, 2);
  return (
    <div className={cn("grid gap-1.5 rounded-md border border-destructive/40 bg-destructive/5 p-2", className)} data-testid="error-box">
      {message ? (
        <p className="text-sm break-words whitespace-pre-wrap text-destructive [overflow-wrap:anywhere]">
          {type ? <strong>{type}: </strong> : null}
          {message}
        </p>
      ) : null}
      <CodeBlock label={label} className="max-h-72 break-words whitespace-pre-wrap [overflow-wrap:anywhere]">
        {json}
      </CodeBlock>
      <div className="flex items-center gap-2">
        <CopyButton value={json} label="Copy error" name={`Copy error: ${label.toLowerCase()}`} />
      </div>
    </div>
  );
}

/** JSON that wraps instead of scrolling sideways (inputs, outputs, the run's input); a long one scrolls down, and
 * takes the focus for the keyboard to scroll it (CodeBlock). */
export function JsonBlock({
  value,
  className,
  label = "JSON",
  ...rest
}: { value: unknown; className?: string; label?: string; "data-testid"?: string }) {
  return (
    <CodeBlock label={label} className={cn("break-words whitespace-pre-wrap [overflow-wrap:anywhere]", className)} {...rest}>
      {JSON.stringify(value ?? null, null, 2)}
    </CodeBlock>
  );
}
