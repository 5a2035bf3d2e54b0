// Form plumbing: a field's box, problems under a field (tied to the input by aria-describedby), a form's general
// problems and a page's live notice.
import type { ComponentProps, ReactNode } from "react";
import { cn } from "../lib/utils";
import { Alert } from "./ui/alert";

/** A label, its control and the control's messages, stacked. */
export function Field({ className, ...props }: ComponentProps<"div">) {
  return <div className={cn("grid content-start gap-1.5", className)} {...props} />;
}

export function FieldMessages({ id, messages }: { id: string; messages: readonly string[] | undefined }) {
  if (!messages?.length) return null;
  return (
    <div id={id}>
      {messages.map((m, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: a list of messages, rebuilt whole and without state; the same text may repeat
        <p key={i} className="text-xs text-destructive">
          {m}
        </p>
      ))}
    </div>
  );
}

/** A field's hint, under it. */
export function FieldDescription({ className, ...props }: ComponentProps<"p">) {
  return <p className={cn("text-xs text-muted-foreground", className)} {...props} />;
}

/** aria-invalid and aria-describedby for an input with problems (and an optional hint). */
export function invalidProps(errorId: string, messages: readonly string[] | undefined, hintId?: string) {
  const bad = !!messages?.length;
  const describedBy = [hintId, bad ? errorId : undefined].filter(Boolean).join(" ");
  return { "aria-invalid": bad || undefined, "aria-describedby": describedBy || undefined } as const;
}

export function GeneralErrors({ messages }: { messages: readonly string[] }) {
  if (!messages.length) return null;
  return (
    <Alert variant="destructive">
      {messages.map((m, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: a list of messages, rebuilt whole and without state; the same text may repeat
        <p key={i}>{m}</p>
      ))}
    </Alert>
  );
}

/** A live region for what just happened ("Credential x deleted."); present while empty, so it is announced. */
export function Notice({ children }: { children: ReactNode }) {
  return (
    <p className="min-h-5 text-sm text-success" role="status">
      {children}
    </p>
  );
}
