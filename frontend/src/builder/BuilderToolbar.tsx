// The builder's toolbar, one row from 1,280 px up: the way back and the workflow's name (truncated, in full on hover),
// where the draft stands, undo/redo, layout, comparing versions, save, test the draft, publish (its note in a
// dialog), start a run.
import { useState, type FormEvent } from "react";
import { Link } from "react-router-dom";
import type { WorkflowDetail } from "../api/types";
import { useCan } from "../auth";
import { CompareVersions } from "../components/CompareVersions";
import { Button } from "../components/ui/button";
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "../components/ui/dialog";
import { Icon } from "../components/ui/icon";
import { Input } from "../components/ui/input";
import { Label } from "../components/ui/label";
import { Toolbar, ToolbarTitle } from "../components/Workspace";
import type { Definition } from "../lib/definition";
import { MOD } from "../lib/shortcuts";
import { cn } from "../lib/utils";
import { StartRun, type StartRunProps } from "./StartRun";
import { TestWorkflow, type TestWorkflowProps } from "./TestWorkflow";
import type { Draft } from "./useDraft";

export interface BuilderToolbarProps {
  workflow: Pick<WorkflowDetail, "id" | "name">;
  /** The definition on the canvas (compared with published versions). */
  definition: Definition;
  draft: Draft;
  validation: { validated: boolean; problemCount: number; warningCount?: number };
  history: { canUndo: boolean; canRedo: boolean; undo: () => void; redo: () => void };
  onAutoLayout: () => void;
  startRun: Omit<StartRunProps, "latestVersion">;
  testWorkflow: TestWorkflowProps;
}

export function BuilderToolbar({ workflow, definition, draft, validation, history, onAutoLayout, startRun, testWorkflow }: BuilderToolbarProps) {
  const canEdit = useCan("editGraph");
  const canPublish = useCan("publish");
  const canStart = useCan("startRun");
  const canTest = useCan("testDraft");
  return (
    <Toolbar>
      <ToolbarTitle className="flex min-w-0 flex-1 items-center gap-1.5">
        <Link to="/" className="shrink-0 font-normal">
          Workflows
        </Link>
        <span aria-hidden="true" className="text-muted-foreground">
          /
        </span>
        <span className="truncate" title={workflow.name}>
          {workflow.name}
        </span>
      </ToolbarTitle>
      <DraftStatus draft={draft} {...validation} />
      {canEdit ? <HistoryButtons {...history} /> : null}
      <Button onClick={onAutoLayout} title="Lay the graph out along its edges">
        <Icon name="network" />
        Auto-layout
      </Button>
      <CompareVersionsButton workflowId={workflow.id} draft={definition} />
      {canEdit ? (
        <Button variant="default" onClick={() => void draft.save()} disabled={!draft.dirty} title={`Save the draft (${MOD}S)`}>
          Save draft
        </Button>
      ) : null}
      {canTest ? <TestWorkflow {...testWorkflow} /> : null}
      {canPublish ? <PublishControl publish={draft.publish} dirty={draft.dirty} /> : null}
      {canStart ? <StartRun latestVersion={draft.latestVersion} {...startRun} /> : null}
    </Toolbar>
  );
}

/** Saved or not, the revision, the latest version, and whether the draft is valid. */
function DraftStatus({
  draft,
  validated,
  problemCount,
  warningCount = 0,
}: { draft: Draft; validated: boolean; problemCount: number; warningCount?: number }) {
  return (
    <span className="flex shrink-0 items-center gap-1.5 text-muted-foreground" role="status">
      <span aria-hidden="true" className={cn("size-2 rounded-full", draft.dirty ? "bg-warning" : "bg-success")} />
      <span className={cn(draft.dirty && "font-medium text-foreground")}>{draft.dirty ? "Unsaved changes" : "Saved"}</span> · revision{" "}
      {draft.revision} · {draft.latestVersion ? `published v${draft.latestVersion}` : "not published"} ·{" "}
      {!validated ? (
        "checking…"
      ) : problemCount ? (
        <span className="font-medium text-destructive">⚠ {problemCount} problem(s)</span>
      ) : (
        <span className="text-success">✓ valid</span>
      )}
      {validated && warningCount ? (
        <span className="font-medium text-warning">
          {" "}
          · <span aria-hidden="true">△</span> {warningCount} warning(s)
        </span>
      ) : null}
    </span>
  );
}

function HistoryButtons({ canUndo, canRedo, undo, redo }: BuilderToolbarProps["history"]) {
  return (
    // biome-ignore lint/a11y/useSemanticElements: a group of toolbar buttons, not of form fields: a fieldset would say otherwise
    <span className="inline-flex shrink-0" role="group" aria-label="History">
      <Button
        variant="ghost"
        className="px-2"
        onClick={undo}
        disabled={!canUndo}
        aria-label="Undo"
        title={`Undo (${MOD}Z)`}
        aria-keyshortcuts="Control+Z Meta+Z"
      >
        <Icon name="undo2" />
      </Button>
      <Button
        variant="ghost"
        className="px-2"
        onClick={redo}
        disabled={!canRedo}
        aria-label="Redo"
        title={`Redo (${MOD}Shift+Z)`}
        aria-keyshortcuts="Control+Shift+Z Meta+Shift+Z Control+Y"
      >
        <Icon name="redo2" />
      </Button>
    </span>
  );
}

function CompareVersionsButton({ workflowId, draft }: { workflowId: string; draft: Definition }) {
  const [comparing, setComparing] = useState(false);
  return (
    <>
      <Button onClick={() => setComparing(true)}>
        <Icon name="gitCompareArrows" />
        Compare versions
      </Button>
      {comparing ? <CompareVersions workflowId={workflowId} draft={draft} onClose={() => setComparing(false)} /> : null}
    </>
  );
}

/** Publish: a dialog asks for the version's note (optional); unsaved changes are saved first. */
function PublishControl({ publish, dirty }: { publish: Draft["publish"]; dirty: boolean }) {
  const [open, setOpen] = useState(false);
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    try {
      if (await publish(note)) {
        setNote("");
        setOpen(false);
      }
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <Button onClick={() => setOpen(true)}>
        <Icon name="upload" />
        Publish
      </Button>
      <Dialog open={open} onOpenChange={setOpen}>
        <DialogContent>
          <form className="grid gap-4" onSubmit={(e) => void onSubmit(e)} aria-label="Publish a version">
            <DialogHeader>
              <DialogTitle>Publish a new version</DialogTitle>
              <DialogDescription>
                Runs, schedules and webhooks start the latest published version.{dirty ? " Your unsaved changes are saved first." : ""}
              </DialogDescription>
            </DialogHeader>
            <div className="grid gap-1.5">
              <Label htmlFor="publish-note">Note</Label>
              <Input id="publish-note" value={note} onChange={(e) => setNote(e.target.value)} placeholder="What changed (optional)" maxLength={500} />
            </div>
            <DialogFooter className="justify-end">
              <Button onClick={() => setOpen(false)}>Cancel</Button>
              <Button type="submit" variant="default" disabled={busy}>
                {busy ? "Publishing…" : "Publish version"}
              </Button>
            </DialogFooter>
          </form>
        </DialogContent>
      </Dialog>
    </>
  );
}
