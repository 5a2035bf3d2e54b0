// "Start run": a run of the latest published version. A dialog asks for its input first, pre-filled with the
// trigger schema's defaults (a JSON editor when the trigger declares no fields). Publishing first is the way to
// start a draft's changes; "Test workflow" runs the draft itself.
import { useState } from "react";
import { Button } from "../components/ui/button";
import { RunInputDialog } from "./RunInputDialog";

export interface StartRunProps {
  latestVersion: number | null;
  /** The trigger's input schema (of the draft: the published one is the same unless the draft changed it). */
  inputSchema: Record<string, unknown> | undefined;
  onStart: (input: unknown) => Promise<void>;
}

export function StartRun({ latestVersion, inputSchema, onStart }: StartRunProps) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button
        disabled={!latestVersion}
        title={latestVersion ? `Start a run of version ${latestVersion}` : "Publish first"}
        onClick={() => setOpen(true)}
      >
        Start run
      </Button>
      <RunInputDialog
        open={open}
        title="Start a run"
        description={latestVersion ? `A run of the published version ${latestVersion}.` : undefined}
        submitLabel="Start"
        inputSchema={inputSchema}
        onSubmit={onStart}
        onClose={() => setOpen(false)}
      />
    </>
  );
}
