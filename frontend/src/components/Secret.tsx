// Secrets shown once (an API key, a webhook's signing secret) and copy buttons.
import { useId, useRef, useState } from "react";
import { Field } from "./FieldMessages";
import { Button } from "./ui/button";
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "./ui/dialog";
import { Input } from "./ui/input";
import { Label } from "./ui/label";

/** `label` is the visible text; `name` (which should contain it) what assistive technology reads. */
export function CopyButton({ value, label, name }: { value: string; label: string; name?: string }) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  const ref = useRef<HTMLButtonElement>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setState("copied");
    } catch {
      setState(fallbackCopy(value, ref.current) ? "copied" : "failed");
    }
  };
  return (
    <>
      <Button ref={ref} size="xs" aria-label={name} onClick={() => void copy()}>
        {label}
      </Button>
      <span className="text-xs text-muted-foreground" role="status">
        {state === "copied" ? "Copied." : state === "failed" ? "Could not copy: select the text and copy it." : ""}
      </span>
    </>
  );
}

/** Without the Clipboard API (no permission, not a secure context): a selected textarea and execCommand. */
function fallbackCopy(value: string, near: HTMLElement | null): boolean {
  // The page behind a modal dialog is inert (and the dialog keeps the focus): copy from inside the dialog.
  const host = near?.closest('[role="dialog"], [role="alertdialog"]') ?? document.body;
  const area = document.createElement("textarea");
  area.value = value;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  host.appendChild(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  near?.focus();
  return ok;
}

export interface SecretItem {
  label: string;
  value: string;
  /** the copy button's name, e.g. "Copy the secret" */
  copyLabel: string;
}

/** Shows values once: read-only fields with copy buttons; closing the dialog forgets them. */
export function SecretDialog({
  title,
  intro,
  items,
  onClose,
}: {
  title: string;
  intro: string;
  items: SecretItem[];
  onClose: () => void;
}) {
  const base = useId();
  return (
    <Dialog open onOpenChange={(open) => !open && onClose()}>
      <DialogContent className="sm:max-w-xl">
        <DialogHeader>
          <DialogTitle>{title}</DialogTitle>
          <DialogDescription className="text-success" role="status">
            {intro}
          </DialogDescription>
        </DialogHeader>
        {items.map((item, i) => (
          <Field key={item.label}>
            <Label htmlFor={`${base}-${i}`}>{item.label}</Label>
            <div className="flex flex-wrap items-center gap-2">
              <Input
                id={`${base}-${i}`}
                className="flex-1 font-mono"
                readOnly
                value={item.value}
                onFocus={(e) => e.currentTarget.select()}
              />
              <CopyButton value={item.value} label={item.copyLabel} />
            </div>
          </Field>
        ))}
        <DialogFooter>
          <Button variant="default" onClick={onClose}>
            Done, I stored it
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}
