// Secrets shown once (an API key, a webhook's signing secret) and copy buttons.
import { useId, useRef, useState } from "react";
import { Dialog } from "./Dialog";

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
      <button ref={ref} type="button" aria-label={name} onClick={() => void copy()}>
        {label}
      </button>
      <span className="hint" role="status">
        {state === "copied" ? "Copied." : state === "failed" ? "Could not copy: select the text and copy it." : ""}
      </span>
    </>
  );
}

/** Without the Clipboard API (no permission, not a secure context): a selected textarea and execCommand. */
function fallbackCopy(value: string, near: HTMLElement | null): boolean {
  const host = near?.closest("dialog") ?? document.body; // the page behind a modal dialog is inert
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
    <Dialog title={title} onClose={onClose}>
      <p className="notice" role="status">
        {intro}
      </p>
      {items.map((item, i) => (
        <div className="field" key={item.label}>
          <label htmlFor={`${base}-${i}`}>{item.label}</label>
          <div className="row secret-row">
            <input
              id={`${base}-${i}`}
              className="secret-value"
              readOnly
              value={item.value}
              onFocus={(e) => e.currentTarget.select()}
              data-autofocus={i === 0 ? "" : undefined}
            />
            <CopyButton value={item.value} label={item.copyLabel} />
          </div>
        </div>
      ))}
      <div className="dialog-actions">
        <button type="button" className="primary" onClick={onClose}>
          Done, I stored it
        </button>
      </div>
    </Dialog>
  );
}
