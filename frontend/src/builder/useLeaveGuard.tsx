// Unsaved work is never lost without asking: an in-app navigation away (a link, the back button, a redirect) is held
// by the router's blocker and asks first (save and leave, leave without saving, or stay), and closing or reloading
// the tab gets the browser's own "Leave site?" prompt. Nothing asks when there is nothing to lose.
import { useEffect, useRef, useState } from "react";
import { useBlocker, type BlockerFunction } from "react-router-dom";
import { Button } from "../components/ui/button";
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "../components/ui/dialog";

/** Whether moving from one location to another leaves the page (a change of path; a query or hash change stays). */
export const leavesPage: BlockerFunction = ({ currentLocation, nextLocation }) => currentLocation.pathname !== nextLocation.pathname;

/** Holds navigations away while `dirty` (there is unsaved work); the blocker it returns drives LeaveDialog. */
export function useLeaveGuard(dirty: boolean) {
  const blocker = useBlocker((args) => dirty && leavesPage(args));

  // Closing the tab, reloading, typing another address: the browser asks (its own words; no custom text anymore).
  useEffect(() => {
    if (!dirty) return;
    const onBeforeUnload = (event: BeforeUnloadEvent) => {
      event.preventDefault();
      event.returnValue = ""; // older browsers ask only when this is set
    };
    window.addEventListener("beforeunload", onBeforeUnload);
    return () => window.removeEventListener("beforeunload", onBeforeUnload);
  }, [dirty]);

  // Saved in the meantime (or undone back to the saved state): nothing to ask about, go on.
  useEffect(() => {
    if (blocker.state === "blocked" && !dirty) blocker.proceed();
  }, [blocker, dirty]);

  return blocker;
}

export interface LeaveDialogProps {
  blocker: ReturnType<typeof useBlocker>;
  /** Saves the work; resolves true when saved (the navigation goes on), false when refused (it stays, problems shown). */
  save?: () => Promise<boolean>;
  /** What holds the work, as the sentence's subject ("The workflow Nightly report"). */
  what: string;
}

/** The question a held navigation asks. */
export function LeaveDialog({ blocker, save, what }: LeaveDialogProps) {
  const [saving, setSaving] = useState(false);
  const stayRef = useRef<HTMLButtonElement>(null);
  const open = blocker.state === "blocked";
  const saveAndLeave = async () => {
    if (!save) return;
    setSaving(true);
    try {
      if (await save()) blocker.proceed?.();
      else blocker.reset?.();
    } finally {
      setSaving(false);
    }
  };
  return (
    <Dialog open={open} onOpenChange={(next) => (next ? undefined : blocker.reset?.())}>
      <DialogContent
        role="alertdialog"
        onOpenAutoFocus={(event) => {
          // Stay is the safe default: Enter or Escape never throws work away.
          event.preventDefault();
          stayRef.current?.focus();
        }}
      >
        <DialogHeader>
          <DialogTitle>Leave without saving?</DialogTitle>
          <DialogDescription>
            {what} has changes that are not saved. Leaving now loses them.
          </DialogDescription>
        </DialogHeader>
        <DialogFooter>
          {save ? (
            <Button variant="default" onClick={() => void saveAndLeave()} disabled={saving}>
              {saving ? "Saving…" : "Save and leave"}
            </Button>
          ) : null}
          <Button variant="destructive-outline" onClick={() => blocker.proceed?.()} disabled={saving}>
            Leave without saving
          </Button>
          <Button ref={stayRef} onClick={() => blocker.reset?.()} disabled={saving}>
            Stay
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}
