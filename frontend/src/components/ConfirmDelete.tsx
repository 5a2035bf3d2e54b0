// The one confirm-before-destroying flow of the admin screens (delete a credential, webhook or schedule, disable a
// user, revoke an API key): a button opens an alertdialog whose Cancel has the focus, so Enter or Escape never
// destroys anything by accident; the action runs only from the confirm button, and a refusal shows in the dialog.
import { useEffect, useId, useRef, useState, type ReactNode, type Ref } from "react";
import { cn } from "../lib/utils";
import { Button } from "./ui/button";
import {
  Dialog,
  DialogContent,
  DialogDescription,
  DialogFooter,
  DialogHeader,
  DialogTitle,
  DialogTrigger,
  focusPageHeading,
} from "./ui/dialog";

export interface ConfirmDeleteProps {
  /** The button's visible text ("Delete", "Disable", "Revoke"). */
  label?: string;
  /** The button's accessible name ("Delete credential github-token"). */
  name: string;
  /** The dialog's title, its accessible name ("Delete credential github-token?"). */
  title: string;
  /** What happens, read as the dialog's description. */
  message: ReactNode;
  confirmLabel: string;
  /** Does it; resolves to the server's problem (the dialog stays open and says it) or null (the dialog closes). */
  onConfirm: () => Promise<string | null>;
  disabled?: boolean;
  triggerRef?: Ref<HTMLButtonElement>;
}

export function ConfirmDelete({ label = "Delete", name, title, message, confirmLabel, onConfirm, disabled, triggerRef }: ConfirmDeleteProps) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const errorId = useId();
  // The focus comes back to the button when the dialog closes; when its row then goes (deleted, the list
  // reloaded), the focus goes to the page's heading rather than nowhere.
  const focused = useRef(false);
  useEffect(
    () => () => {
      if (focused.current && (!document.activeElement || document.activeElement === document.body)) focusPageHeading();
    },
    [],
  );
  const confirm = async () => {
    setBusy(true);
    try {
      const problem = await onConfirm();
      setError(problem);
      if (!problem) setOpen(false);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog
      open={open}
      onOpenChange={(next) => {
        setOpen(next);
        if (next) setError(null);
      }}
    >
      <DialogTrigger asChild>
        <Button
          ref={triggerRef}
          variant="destructive-outline"
          size="xs"
          disabled={disabled}
          aria-label={name}
          onFocus={() => (focused.current = true)}
          onBlur={() => (focused.current = false)}
        >
          {label}
        </Button>
      </DialogTrigger>
      <DialogContent
        role="alertdialog"
        onOpenAutoFocus={(e) => {
          e.preventDefault();
          cancelRef.current?.focus();
        }}
      >
        <DialogHeader>
          <DialogTitle>{title}</DialogTitle>
          <DialogDescription asChild>
            <div>{message}</div>
          </DialogDescription>
        </DialogHeader>
        {error ? (
          <p id={errorId} className="text-sm text-destructive" role="alert">
            {error}
          </p>
        ) : null}
        <DialogFooter className="justify-end">
          <Button ref={cancelRef} onClick={() => setOpen(false)}>
            Cancel
          </Button>
          <Button variant="destructive" disabled={busy} aria-describedby={error ? errorId : undefined} onClick={() => void confirm()}>
            {confirmLabel}
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}

/** A table row's action buttons, and the problem the last of them ran into. */
export function RowActions({
  problem,
  problemId,
  children,
  className,
}: {
  problem?: string | null;
  /** The problem's id, for a button's aria-describedby. */
  problemId?: string;
  children: ReactNode;
  className?: string;
}) {
  return (
    <>
      <div className={cn("flex flex-wrap items-center gap-1.5", className)}>{children}</div>
      {problem ? (
        <p id={problemId} className="mt-1 text-xs text-destructive" role="alert">
          {problem}
        </p>
      ) : null}
    </>
  );
}
