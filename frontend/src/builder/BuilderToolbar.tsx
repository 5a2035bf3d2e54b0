// The builder's toolbar: where the draft stands, undo/redo, layout, comparing versions, save, publish, start a run.
import { useState } from "react";
import { Link } from "react-router-dom";
import type { WorkflowDetail } from "../api/types";
import { useCan } from "../auth";
import { CompareVersions } from "../components/CompareVersions";
import { Button } from "../components/ui/button";
import { Input } from "../components/ui/input";
import { Label } from "../components/ui/label";
import { Toolbar, ToolbarTitle } from "../components/Workspace";
import type { Definition } from "../lib/definition";
import { MOD } from "../lib/shortcuts";
import { StartRun, type StartRunProps } from "./StartRun";
import type { Draft } from "./useDraft";

export interface BuilderToolbarProps {
  workflow: Pick<WorkflowDetail, "id" | "name">;
  /** The definition on the canvas (compared with published versions). */
  definition: Definition;
  draft: Draft;
  validation: { validated: boolean; problemCount: number };
  history: { canUndo: boolean; canRedo: boolean; undo: () => void; redo: () => void };
  onAutoLayout: () => void;
  startRun: Omit<StartRunProps, "latestVersion">;
}

export function BuilderToolbar({ workflow, definition, draft, validation, history, onAutoLayout, startRun }: BuilderToolbarProps) {
  const canEdit = useCan("editGraph");
  const canPublish = useCan("publish");
  const canStart = useCan("startRun");
  return (
    <Toolbar>
      <ToolbarTitle>
        <Link to="/">Workflows</Link> / {workflow.name}
      </ToolbarTitle>
      <DraftStatus draft={draft} {...validation} />
      {canEdit ? <HistoryButtons {...history} /> : null}
      <Button onClick={onAutoLayout}>Auto-layout</Button>
      <CompareVersionsButton workflowId={workflow.id} draft={definition} />
      {canEdit ? (
        <Button variant="default" onClick={() => void draft.save()} disabled={!draft.dirty}>
          Save draft
        </Button>
      ) : null}
      {canPublish ? <PublishControl publish={draft.publish} /> : null}
      {canStart ? <StartRun latestVersion={draft.latestVersion} {...startRun} /> : null}
    </Toolbar>
  );
}

/** Saved or not, the revision, the latest version, and whether the draft is valid. */
function DraftStatus({ draft, validated, problemCount }: { draft: Draft; validated: boolean; problemCount: number }) {
  return (
    <span className="text-muted-foreground" role="status">
      {draft.dirty ? "Unsaved changes" : "Saved"} · revision {draft.revision} ·{" "}
      {draft.latestVersion ? `published v${draft.latestVersion}` : "not published"} ·{" "}
      {!validated ? "checking…" : problemCount ? `⚠ ${problemCount} problem(s)` : "✓ valid"}
    </span>
  );
}

function HistoryButtons({ canUndo, canRedo, undo, redo }: BuilderToolbarProps["history"]) {
  return (
    // biome-ignore lint/a11y/useSemanticElements: a group of toolbar buttons, not of form fields: a fieldset would say otherwise
    <span className="inline-flex gap-1" role="group" aria-label="History">
      <Button onClick={undo} disabled={!canUndo} title={`Undo (${MOD}Z)`} aria-keyshortcuts="Control+Z Meta+Z">
        Undo
      </Button>
      <Button
        onClick={redo}
        disabled={!canRedo}
        title={`Redo (${MOD}Shift+Z)`}
        aria-keyshortcuts="Control+Shift+Z Meta+Shift+Z Control+Y"
      >
        Redo
      </Button>
    </span>
  );
}

function CompareVersionsButton({ workflowId, draft }: { workflowId: string; draft: Definition }) {
  const [comparing, setComparing] = useState(false);
  return (
    <>
      <Button onClick={() => setComparing(true)}>Compare versions</Button>
      {comparing ? <CompareVersions workflowId={workflowId} draft={draft} onClose={() => setComparing(false)} /> : null}
    </>
  );
}

/** The publish note and button; the note clears once the version is published. */
function PublishControl({ publish }: { publish: Draft["publish"] }) {
  const [note, setNote] = useState("");
  const onPublish = async () => {
    if (await publish(note)) setNote("");
  };
  return (
    <span className="flex items-center gap-1.5">
      <Label htmlFor="publish-note">Note</Label>
      <Input id="publish-note" className="w-40" value={note} onChange={(e) => setNote(e.target.value)} placeholder="what changed" />
      <Button onClick={() => void onPublish()}>Publish</Button>
    </span>
  );
}
