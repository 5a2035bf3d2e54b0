// "Test workflow": runs the draft (saved first) as a test run, with the same input dialog as "Start run". The
// dialog says plainly that a test has the same side effects as a real run.
import { useState } from "react";
import { Button } from "../components/ui/button";
import { Icon } from "../components/ui/icon";
import { RunInputDialog } from "./RunInputDialog";

export const SIDE_EFFECTS =
  "A test run executes the draft on the same engine, with the same credentials and side effects as a real run: " +
  "HTTP requests are sent, messages posted, approvals asked for. Only pinned nodes are not run. Triggers, schedules, " +
  "webhooks and published versions are not touched.";

export interface TestWorkflowProps {
  inputSchema: Record<string, unknown> | undefined;
  onTest: (input: unknown) => Promise<boolean>;
  /** The test run on the canvas, while it is not finished. */
  running: boolean;
}

export function TestWorkflow({ inputSchema, onTest, running }: TestWorkflowProps) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button onClick={() => setOpen(true)} title="Run the draft as a test run (saved first)">
        <Icon name="play" />
        {running ? "Testing…" : "Test workflow"}
      </Button>
      <RunInputDialog
        open={open}
        title="Test the draft"
        description={SIDE_EFFECTS}
        submitLabel="Run test"
        inputSchema={inputSchema}
        onSubmit={async (input) => {
          if (await onTest(input)) setOpen(false);
        }}
        onClose={() => setOpen(false)}
      />
    </>
  );
}
