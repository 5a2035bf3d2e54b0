// The selected node's settings: id, label, and its config as a form generated from the type's configSchema.
import { useEffect, useState, type ReactNode } from "react";
import type { ErrorSchema } from "@rjsf/utils";
import type { NodeTypeInfo } from "../api/types";
import { errorsOf, NODE_ID_PATTERN, type StepNode, warningsOf } from "../lib/definition";
import { toErrorSchema } from "../lib/errors";
import { asObject } from "../lib/json";
import type { TemplateSuggestion } from "../lib/templatePaths";
import { FieldMessages, Field } from "./FieldMessages";
import { Markdown } from "./Markdown";
import { NodeIcon } from "./NodeIcon";
import { SchemaForm } from "./LazySchemaForm";
import { TemplateSuggestionsContext } from "./TemplateInput";
import { Button } from "./ui/button";
import { Input } from "./ui/input";
import { Label } from "./ui/label";
import { SIDE_PANEL } from "./Workspace";

/** Problems listed with a warning sign each. */
export function ProblemList({
  items,
  label,
  className,
  warning = false,
}: { items: readonly { message: string }[]; label: string; className?: string; warning?: boolean }) {
  if (!items.length) return null;
  return (
    <ul className={`list-none space-y-0.5 text-sm ${warning ? "text-warning" : "text-destructive"} ${className ?? ""}`} aria-label={label}>
      {items.map((p, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: a list of messages, rebuilt whole and without state; the same text may repeat
        <li key={i}>
          <span aria-hidden="true">{warning ? "△" : "⚠"}</span> {warning ? <span className="sr-only">warning: </span> : null}
          {p.message}
        </li>
      ))}
    </ul>
  );
}

export interface InspectorProps {
  node: StepNode;
  nodeType: NodeTypeInfo | undefined;
  editable: boolean;
  onRename: (to: string) => boolean;
  onLabel: (label: string) => void;
  onConfig: (config: Record<string, unknown>) => void;
  onDelete: () => void;
  /** The template paths this node can read, offered while editing its template fields. */
  suggestions?: readonly TemplateSuggestion[];
  /** Shown below the settings (the builder puts the node's connections there). */
  children?: ReactNode;
}

const NO_SUGGESTIONS: readonly TemplateSuggestion[] = [];

export function Inspector({
  node,
  nodeType,
  editable,
  onRename,
  onLabel,
  onConfig,
  onDelete,
  suggestions = NO_SUGGESTIONS,
  children,
}: InspectorProps) {
  const [idText, setIdText] = useState(node.id);
  const [idError, setIdError] = useState<string | null>(null);
  useEffect(() => {
    setIdText(node.id);
    setIdError(null);
  }, [node.id]);

  const commitId = () => {
    if (idText === node.id) return;
    if (!NODE_ID_PATTERN.test(idText)) {
      setIdError("Use letters, digits, '_' and '-', starting with a letter or '_' (at most 64).");
    } else if (!onRename(idText)) {
      setIdError(`Another node is already called ${idText}.`);
    } else {
      setIdError(null);
    }
  };
  const nodeLevel = errorsOf(node.data.problems).filter((p) => p.field.length === 0 || p.field[0]?.startsWith("@"));
  const fieldProblems = node.data.problems.filter((p) => p.field.length > 0 && !p.field[0]?.startsWith("@"));
  // Warnings block nothing: listed apart, in the warning colour, each naming its field.
  const warnings = warningsOf(node.data.problems).map((p) => ({
    message: p.field.length && !p.field[0]?.startsWith("@") ? `${p.field.join(".")}: ${p.message}` : p.message,
  }));

  return (
    <aside className={SIDE_PANEL} aria-label="Inspector">
      <div className="grid gap-1.5">
        <div className="flex min-w-0 items-center gap-2">
          <NodeIcon icon={nodeType?.icon} color={nodeType?.color} />
          <h2 className="truncate" title={nodeType?.title ?? node.data.nodeType}>
            {nodeType?.title ?? node.data.nodeType}
          </h2>
          {nodeType ? <span className="ml-auto shrink-0 text-xs text-muted-foreground">{nodeType.category}</span> : null}
        </div>
        {nodeType ? (
          <Markdown source={nodeType.description} className="text-xs text-muted-foreground" />
        ) : (
          <p className="text-destructive">Unknown node type.</p>
        )}
      </div>
      <Field>
        <Label htmlFor="node-id">Node id</Label>
        <Input
          id="node-id"
          value={idText}
          readOnly={!editable}
          aria-invalid={idError ? true : undefined}
          aria-describedby={idError ? "node-id-error" : undefined}
          onChange={(e) => setIdText(e.target.value)}
          onBlur={commitId}
          onKeyDown={(e) => e.key === "Enter" && commitId()}
        />
        <FieldMessages id="node-id-error" messages={idError ? [idError] : undefined} />
      </Field>
      <Field>
        <Label htmlFor="node-label">Label</Label>
        <Input
          id="node-label"
          value={node.data.extras.label ?? ""}
          readOnly={!editable}
          placeholder={nodeType?.title}
          onChange={(e) => onLabel(e.target.value)}
        />
      </Field>
      <ProblemList items={nodeLevel} label="Problems of this node" />
      <ProblemList items={warnings} label="Warnings of this node" warning />
      {nodeType ? (
        <section aria-label="Settings" className="grid gap-2">
          <h3>Settings</h3>
          <TemplateSuggestionsContext.Provider value={suggestions}>
            <SchemaForm
              key={node.id}
              schema={asObject(nodeType.configSchema) ?? {}}
              formData={node.data.config}
              readonly={!editable}
              extraErrors={toErrorSchema(fieldProblems) as ErrorSchema}
              onEdit={onConfig}
            />
          </TemplateSuggestionsContext.Provider>
        </section>
      ) : null}
      {children}
      {editable ? (
        <Button variant="destructive-outline" className="self-start" onClick={onDelete}>
          Delete node
        </Button>
      ) : null}
    </aside>
  );
}
