// The selected node's outgoing connections in the inspector: connect it to another node (and branch) without a
// mouse, and remove a connection. The canvas's drag-to-connect does the same with a pointer.
import { useEffect, useId, useRef, useState, type FormEvent } from "react";
import { Field } from "./FieldMessages";
import { Button } from "./ui/button";
import { Label } from "./ui/label";
import { NativeSelect } from "./ui/native-select";

export interface OutgoingEdge {
  id: string;
  target: string;
  branch: string | null;
}

export interface EdgeTarget {
  id: string;
  /** Shown after the id (the node's label or its type's title). */
  label?: string;
}

export interface EdgeEditorProps {
  nodeId: string;
  /** The node's branches (a condition's true/false, a switch's cases); empty: one unnamed output. */
  branches: readonly string[];
  /** The nodes this one may connect to (not itself, not triggers). */
  targets: readonly EdgeTarget[];
  outgoing: readonly OutgoingEdge[];
  editable: boolean;
  onConnect: (target: string, branch: string | null) => void;
  onRemove: (edgeId: string) => void;
}

const edgeText = (target: string, branch: string | null) => (branch ? `${target} (branch ${branch})` : target);

export function EdgeEditor({ nodeId, branches, targets, outgoing, editable, onConnect, onRemove }: EdgeEditorProps) {
  const id = useId();
  const [target, setTarget] = useState("");
  const [branch, setBranch] = useState(branches[0] ?? "");
  const [notice, setNotice] = useState("");
  const targetRef = useRef<HTMLSelectElement>(null);
  const listRef = useRef<HTMLUListElement>(null);
  const refocus = useRef<{ index: number; before: readonly OutgoingEdge[] } | null>(null);

  // Another node selected, or its branches changed (a switch's cases): start over with a valid choice.
  // biome-ignore lint/correctness/useExhaustiveDependencies: nodeId is what triggers the reset: it is not read inside
  useEffect(() => {
    setTarget("");
    setNotice("");
  }, [nodeId]);
  useEffect(() => {
    if (!branches.includes(branch)) setBranch(branches[0] ?? "");
  }, [branches, branch]);
  useEffect(() => {
    if (target && !targets.some((t) => t.id === target)) setTarget("");
  }, [targets, target]);

  // Once a removal shows, the pressed button is gone: focus the next remove button, else the target field.
  useEffect(() => {
    const pending = refocus.current;
    if (!pending || pending.before === outgoing) return;
    refocus.current = null;
    const buttons = listRef.current?.querySelectorAll<HTMLButtonElement>("button") ?? [];
    (buttons[Math.min(pending.index, buttons.length - 1)] ?? targetRef.current)?.focus();
  }, [outgoing]);

  const chosenBranch = branches.length ? branch || null : null;
  const exists = !!target && outgoing.some((e) => e.target === target && (e.branch ?? null) === chosenBranch);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!target || exists || (branches.length && !chosenBranch)) return;
    onConnect(target, chosenBranch);
    setNotice(`Connected ${nodeId} to ${edgeText(target, chosenBranch)}.`);
    setTarget("");
  };

  return (
    <section className="grid gap-2" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>Connections</h3>
      {outgoing.length ? (
        <ul ref={listRef} className="grid gap-1" aria-label={`Outgoing connections of ${nodeId}`}>
          {outgoing.map((edge, i) => (
            <li key={edge.id} className="flex items-center justify-between gap-2">
              <span>
                <span aria-hidden="true">→ </span>
                {edgeText(edge.target, edge.branch)}
              </span>
              {editable ? (
                <Button
                  size="xs"
                  aria-label={`Remove the connection to ${edgeText(edge.target, edge.branch)}`}
                  onClick={() => {
                    onRemove(edge.id);
                    setNotice(`Removed the connection to ${edgeText(edge.target, edge.branch)}.`);
                    refocus.current = { index: i, before: outgoing };
                  }}
                >
                  Remove
                </Button>
              ) : null}
            </li>
          ))}
        </ul>
      ) : (
        <p className="text-xs text-muted-foreground">No outgoing connections.</p>
      )}
      {editable ? (
        <form className="flex flex-wrap items-end gap-2" onSubmit={submit} aria-label={`Connect ${nodeId} to another node`}>
          <Field className="min-w-0 flex-1">
            <Label htmlFor={`${id}-target`}>Connect to…</Label>
            <NativeSelect
              className="w-full"
              id={`${id}-target`}
              ref={targetRef}
              value={target}
              onChange={(e) => setTarget(e.target.value)}
              aria-describedby={exists ? `${id}-exists` : undefined}
            >
              <option value="">Choose a node</option>
              {targets.map((t) => (
                <option key={t.id} value={t.id}>
                  {t.label && t.label !== t.id ? `${t.id} · ${t.label}` : t.id}
                </option>
              ))}
            </NativeSelect>
          </Field>
          {branches.length ? (
            <Field>
              <Label htmlFor={`${id}-branch`}>Branch</Label>
              <NativeSelect id={`${id}-branch`} value={branch} onChange={(e) => setBranch(e.target.value)}>
                {branches.map((b) => (
                  <option key={b} value={b}>
                    {b}
                  </option>
                ))}
              </NativeSelect>
            </Field>
          ) : null}
          <Button type="submit" disabled={!target || exists}>
            Connect
          </Button>
          {exists ? (
            <p id={`${id}-exists`} className="w-full text-xs text-muted-foreground">
              {nodeId} is already connected to {edgeText(target, chosenBranch)}.
            </p>
          ) : null}
        </form>
      ) : null}
      <p className="sr-only" role="status">
        {notice}
      </p>
    </section>
  );
}
