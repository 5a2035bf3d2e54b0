// "Compare versions": pick two published versions, or the draft and a version, and see what changed between them.
import { useEffect, useId, useMemo, useRef, useState, type ReactNode } from "react";
import { useQuery } from "urql";
import { WORKFLOW_VERSIONS, WORKFLOW_VERSION_DEFINITION } from "../api/operations";
import type { DefNode, Definition } from "../lib/definition";
import { describeEdge, diffDefinitions, isEmptyDiff, type NodeChange } from "../lib/versionDiff";
import { Alert } from "./ui/alert";
import { Button } from "./ui/button";
import { Dialog, DialogContent, DialogFooter, DialogTitle } from "./ui/dialog";
import { Label } from "./ui/label";
import { NativeSelect } from "./ui/native-select";

const DRAFT = "draft";

/** The definition behind a choice: the draft as edited, or a published version (immutable, so cached). */
function useChosenDefinition(workflowId: string, choice: string, draft: Definition) {
  const version = choice && choice !== DRAFT ? Number(choice) : null;
  const [res] = useQuery({
    query: WORKFLOW_VERSION_DEFINITION,
    variables: { id: workflowId, version: version ?? 0 },
    pause: version === null,
    requestPolicy: "cache-first",
  });
  if (choice === DRAFT) return { def: draft, fetching: false, error: null };
  if (version === null) return { def: null, fetching: false, error: null };
  const def = (res.data?.workflow?.version?.definition ?? null) as Definition | null;
  const error = res.error?.message ?? (res.data && !def ? `Version ${version} does not exist.` : null);
  return { def, fetching: res.fetching, error };
}

function nodeLine(n: DefNode) {
  return (
    <>
      <code>{n.id}</code> <span className="text-muted-foreground">{n.type}</span>
    </>
  );
}

function changeLine(c: NodeChange) {
  const parts: string[] = [];
  if (c.type) parts.push(`type ${c.type.from} → ${c.type.to}`);
  if (c.configKeys.length) parts.push(`config: ${c.configKeys.join(", ")}`);
  if (c.fields.length) parts.push(c.fields.join(", "));
  return (
    <>
      <code>{c.id}</code> — {parts.join("; ")}
    </>
  );
}

export function CompareVersions({
  workflowId,
  draft,
  onClose,
}: {
  workflowId: string;
  draft: Definition;
  onClose: () => void;
}) {
  const baseId = useId();
  const targetId = useId();
  const firstRef = useRef<HTMLSelectElement>(null);
  const [list] = useQuery({ query: WORKFLOW_VERSIONS, variables: { id: workflowId }, requestPolicy: "network-only" });
  const versions = list.data?.workflow?.versions.nodes ?? [];
  const [base, setBase] = useState("");
  const [target, setTarget] = useState(DRAFT);
  // Start with "latest version → draft": what publishing now would change.
  useEffect(() => {
    if (!base && versions[0]) setBase(String(versions[0].version));
  }, [base, versions]);

  const from = useChosenDefinition(workflowId, base, draft);
  const to = useChosenDefinition(workflowId, target, draft);
  const diff = useMemo(() => (from.def && to.def ? diffDefinitions(from.def, to.def) : null), [from.def, to.def]);

  const options = (
    <>
      <option value={DRAFT}>Draft (current edits)</option>
      {versions.map((v) => (
        <option key={v.id} value={String(v.version)}>
          v{v.version}
          {v.note ? ` — ${v.note}` : ""} ({new Date(v.publishedAt).toLocaleDateString()})
        </option>
      ))}
    </>
  );

  const section = <T,>(label: string, items: T[], line: (item: T) => ReactNode, key: (item: T) => string) =>
    items.length ? (
      <section aria-label={label}>
        <h3>
          {label} ({items.length})
        </h3>
        <ul className="list-disc pl-5">
          {items.map((item) => (
            <li key={key(item)}>{line(item)}</li>
          ))}
        </ul>
      </section>
    ) : null;

  return (
    <Dialog open onOpenChange={(open) => !open && onClose()}>
      <DialogContent
        className="sm:max-w-2xl"
        aria-describedby={undefined}
        onOpenAutoFocus={(e) => {
          e.preventDefault();
          firstRef.current?.focus();
        }}
      >
        <DialogTitle>Compare versions</DialogTitle>
        {list.error ? <Alert variant="destructive">{list.error.message}</Alert> : null}
        {list.data && !versions.length ? (
          <p className="text-muted-foreground">Nothing is published yet: there is no version to compare.</p>
        ) : null}
        <div className="flex flex-wrap items-center gap-2">
          <Label htmlFor={baseId}>From</Label>
          <NativeSelect id={baseId} ref={firstRef} value={base} onChange={(e) => setBase(e.target.value)}>
            {!base ? <option value="">…</option> : null}
            {options}
          </NativeSelect>
          <Label htmlFor={targetId}>To</Label>
          <NativeSelect id={targetId} value={target} onChange={(e) => setTarget(e.target.value)}>
            {options}
          </NativeSelect>
        </div>
        {from.error || to.error ? <Alert variant="destructive">{from.error ?? to.error}</Alert> : null}
        <div role="status" aria-live="polite" data-testid="version-diff" className="grid gap-3">
          {!diff ? (
            from.fetching || to.fetching || list.fetching ? (
              <p className="text-muted-foreground">Loading…</p>
            ) : null
          ) : base === target ? (
            <p className="text-muted-foreground">Choose two different versions.</p>
          ) : isEmptyDiff(diff) ? (
            <p>No differences (node positions aside).</p>
          ) : (
            <>
              {section("Nodes added", diff.addedNodes, nodeLine, (n) => n.id)}
              {section("Nodes removed", diff.removedNodes, nodeLine, (n) => n.id)}
              {section("Nodes changed", diff.changedNodes, changeLine, (c) => c.id)}
              {section("Edges added", diff.addedEdges, (e) => describeEdge(e), describeEdge)}
              {section("Edges removed", diff.removedEdges, (e) => describeEdge(e), describeEdge)}
            </>
          )}
        </div>
        <DialogFooter>
          <Button onClick={onClose}>Close</Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}
