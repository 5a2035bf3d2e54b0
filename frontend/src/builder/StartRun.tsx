// "Start run": a run of the latest published version, with the trigger's input form first when it has an input
// schema. Publishing first is the way to start a draft's changes.
import { useState } from "react";
import { SchemaForm } from "../components/LazySchemaForm";
import { Button } from "../components/ui/button";
import { Dialog, DialogContent, DialogFooter, DialogTitle } from "../components/ui/dialog";

export interface StartRunProps {
  latestVersion: number | null;
  /** The trigger's input schema; none: the run starts with `{}` at once. */
  inputSchema: Record<string, unknown> | undefined;
  onStart: (input: unknown) => Promise<void>;
}

export function StartRun({ latestVersion, inputSchema, onStart }: StartRunProps) {
  // The input form's data while its dialog is open.
  const [form, setForm] = useState<Record<string, unknown> | null>(null);
  return (
    <>
      <Button
        disabled={!latestVersion}
        title={latestVersion ? `Start a run of version ${latestVersion}` : "Publish first"}
        onClick={() => (inputSchema ? setForm({}) : void onStart({}))}
      >
        Start run
      </Button>
      <Dialog open={!!(form && inputSchema)} onOpenChange={(open) => !open && setForm(null)}>
        <DialogContent aria-describedby={undefined}>
          <DialogTitle>Start a run</DialogTitle>
          {form && inputSchema ? (
            <SchemaForm schema={inputSchema} formData={form} idPrefix="run-input" liveValidate onSubmit={(data) => void onStart(data)}>
              <DialogFooter className="mt-4">
                <Button type="submit" variant="default">
                  Start
                </Button>
                <Button onClick={() => setForm(null)}>Cancel</Button>
              </DialogFooter>
            </SchemaForm>
          ) : null}
        </DialogContent>
      </Dialog>
    </>
  );
}
