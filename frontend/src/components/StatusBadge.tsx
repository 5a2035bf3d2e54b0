import { statusLabel } from "../lib/runState";
import { Badge } from "./ui/badge";

const VARIANT: Record<string, "success" | "destructive" | "info" | "warning"> = {
  SUCCEEDED: "success",
  FAILED: "destructive",
  RUNNING: "info",
  QUEUED: "info",
  WAITING: "warning",
};

/** A status as symbol + word (colour is a bonus, never the only signal). */
export function StatusBadge({ status }: { status: string | null | undefined }) {
  const { symbol, text } = statusLabel(status);
  return (
    <Badge variant={(status && VARIANT[status]) || "outline"} data-status={status ?? undefined}>
      <span aria-hidden="true">{symbol}</span> {text}
    </Badge>
  );
}

/** Marks a test run of a draft (testRun, testStep, testReplay) wherever runs are listed or shown. */
export function TestBadge() {
  return (
    <Badge variant="outline" data-testid="test-badge" title="A test run of the draft: not a published version">
      Test
    </Badge>
  );
}
