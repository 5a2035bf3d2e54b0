// The draft on the server: its revision (saving sends it, so a concurrent save is refused, not lost), whether the
// canvas differs from what was saved, the latest published version, and saving and publishing.
import { useCallback, useState } from "react";
import { useMutation } from "urql";
import { PUBLISH, UPDATE_WORKFLOW } from "../api/operations";
import type { WorkflowDetail } from "../api/types";
import type { Definition } from "../lib/definition";
import type { Notify } from "./notice";
import type { ShowProblems } from "./useValidation";

export interface DraftOptions {
  workflow: WorkflowDetail;
  /** The definition on the canvas and its JSON. */
  definition: Definition;
  fullKey: string;
  showProblems: ShowProblems;
  notify: Notify;
}

export function useDraft({ workflow, definition, fullKey, showProblems, notify }: DraftOptions) {
  const [revision, setRevision] = useState(workflow.revision);
  const [latestVersion, setLatestVersion] = useState(workflow.latestVersion?.version ?? null);
  const [savedKey, setSavedKey] = useState(fullKey);
  const dirty = fullKey !== savedKey;
  const [, update] = useMutation(UPDATE_WORKFLOW);
  const [, publishWorkflow] = useMutation(PUBLISH);

  /** Saves the canvas as the draft; false (with the problems shown) when the server refused it. */
  const save = useCallback(async (): Promise<boolean> => {
    const def = definition;
    const res = await update({ id: workflow.id, input: { definition: def, expectedRevision: revision } });
    const payload = res.data?.updateWorkflow;
    if (!payload) {
      notify({ kind: "error", text: res.error?.message ?? "Saving failed." });
      return false;
    }
    if (payload.errors.length) {
      const m = showProblems(payload.errors, def);
      const first = payload.errors[0]!;
      notify({
        kind: "error",
        text: `Not saved: ${payload.errors.length} problem(s). ${m.general.length ? first.message : "See the marked nodes."}`,
      });
      return false;
    }
    setRevision(payload.workflow!.revision);
    setSavedKey(JSON.stringify(def));
    // A draft saves with errors in its templates (they block publishing only): say so, and show what was saved.
    const problems = payload.problems ?? [];
    showProblems(problems, def);
    const errors = problems.filter((p) => p.severity !== "WARNING").length;
    notify(
      errors
        ? { kind: "error", text: `Draft saved, with ${errors} error(s) that block publishing. See the marked nodes.` }
        : { kind: "ok", text: "Draft saved." },
    );
    return true;
  }, [definition, update, workflow.id, revision, showProblems, notify]);

  /** Saves unsaved changes, then publishes the draft as a new version with `note`; true when published. */
  const publish = async (note: string): Promise<boolean> => {
    if (dirty && !(await save())) return false;
    const res = await publishWorkflow({ id: workflow.id, note: note || null });
    const payload = res.data?.publishWorkflow;
    if (!payload || payload.errors.length) {
      if (payload) showProblems(payload.errors, definition);
      notify({ kind: "error", text: `Not published: ${payload?.errors[0]?.message ?? res.error?.message}` });
      return false;
    }
    setLatestVersion(payload.version!.version);
    notify({ kind: "ok", text: `Published version ${payload.version!.version}.` });
    return true;
  };

  return { revision, latestVersion, dirty, save, publish };
}

export type Draft = ReturnType<typeof useDraft>;
