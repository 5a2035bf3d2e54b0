// A modal on the native <dialog> (showModal): focus moves in (to [data-autofocus] or the first control),
// Tab stays inside, Escape closes, and focus returns to where it was when the dialog opened.
import { useEffect, useId, useRef, type ReactNode } from "react";

interface DialogProps {
  title: string;
  /** Escape, a close button, or the parent: the parent unmounts the dialog. */
  onClose: () => void;
  children: ReactNode;
  /** "alertdialog" for a confirmation */
  role?: "dialog" | "alertdialog";
  describedBy?: string;
}

export function Dialog({ title, onClose, children, role, describedBy }: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const closeRef = useRef(onClose);
  const live = useRef(false); // a `close` event after the parent removed the dialog is not the user's
  useEffect(() => {
    closeRef.current = onClose;
  }, [onClose]);
  const close = () => {
    if (live.current) closeRef.current();
  };

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    live.current = true;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    if (typeof el.showModal === "function") {
      if (!el.open) el.showModal();
    } else {
      el.setAttribute("open", ""); // jsdom
    }
    (el.querySelector<HTMLElement>("[data-autofocus]") ?? el.querySelector<HTMLElement>("input, select, textarea, button"))?.focus();
    return () => {
      live.current = false;
      if (el.open && typeof el.close === "function") el.close();
      if (opener?.isConnected) opener.focus();
      else focusHeading(); // the opener went with what the dialog deleted
    };
  }, []);

  return (
    <dialog
      ref={ref}
      className="modal"
      role={role}
      aria-modal="true"
      aria-labelledby={titleId}
      aria-describedby={describedBy}
      onCancel={(e) => {
        // Escape: the parent removes the dialog (and focus goes back) rather than the browser hiding it.
        e.preventDefault();
        close();
      }}
      onClose={close}
    >
      <h2 id={titleId}>{title}</h2>
      {children}
    </dialog>
  );
}

function focusHeading() {
  const heading = document.querySelector<HTMLElement>("main h1");
  if (!heading) return;
  if (!heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
  heading.focus();
}

interface ConfirmProps {
  title: string;
  message: ReactNode;
  confirmLabel: string;
  busy?: boolean;
  error?: string | null;
  onConfirm: () => void;
  onCancel: () => void;
}

/** "Delete X?": Cancel has the focus, so Enter or Escape never destroys anything by accident. */
export function ConfirmDialog({ title, message, confirmLabel, busy, error, onConfirm, onCancel }: ConfirmProps) {
  const messageId = useId();
  return (
    <Dialog title={title} onClose={onCancel} role="alertdialog" describedBy={messageId}>
      <div id={messageId}>{message}</div>
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
      <div className="dialog-actions">
        <button type="button" onClick={onCancel} data-autofocus>
          Cancel
        </button>
        <button type="button" className="danger" disabled={busy} onClick={onConfirm}>
          {confirmLabel}
        </button>
      </div>
    </Dialog>
  );
}
