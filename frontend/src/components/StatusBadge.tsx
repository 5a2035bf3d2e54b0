import { statusLabel } from "../lib/runState";

/** A status as symbol + word (colour is a bonus, never the only signal). */
export function StatusBadge({ status }: { status: string | null | undefined }) {
  const { symbol, text } = statusLabel(status);
  return (
    <span className={`badge status-${(status ?? "none").toLowerCase()}`} data-status={status ?? undefined}>
      <span aria-hidden="true">{symbol}</span> {text}
    </span>
  );
}
