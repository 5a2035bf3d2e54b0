// Forms rendered from JSON Schema with rjsf: node inspectors, the start-run input form, approval forms.
import Form from "@rjsf/core";
import type { ErrorSchema, FieldProps, RJSFSchema, UiSchema } from "@rjsf/utils";
import { useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { editedConfig, topLevelProperty } from "../lib/formEdits";
import { asObject } from "../lib/json";
import { validator } from "../lib/schemaValidator";
import { CodeWidget, FormDataContext } from "./CodeField";
import { TemplateInput, TemplateSuggestionsContext, TemplateWidget } from "./TemplateInput";

// The registry's schemas are JSON Schema 2020-12; the validator interprets them (no generated code: see the CSP).

type Schema = Record<string, unknown>;

/** Widgets for the registry's `x-ui-*` hints; values with no fixed shape get a JSON editor. */
export function uiSchemaFor(schema: Schema): UiSchema {
  const ui: UiSchema = { "ui:submitButtonOptions": { norender: true } };
  const order = schema["x-ui-order"];
  if (Array.isArray(order)) ui["ui:order"] = [...order, "*"];
  const props = (schema.properties ?? {}) as Record<string, Schema>;
  for (const [name, prop] of Object.entries(props)) {
    const widget = prop["x-ui-widget"];
    const shapeless = prop.type === undefined && !prop.enum && !prop.const && !prop.anyOf && !prop.oneOf;
    const freeObject = prop.type === "object" && !prop.properties;
    const complex = ["json-template", "json-schema", "key-value", "chat-messages", "agent-tools"].includes(
      String(widget),
    );
    if (widget === "code" && prop.type === "string") {
      // CodeMirror, in the language its sibling field names (CodeField.tsx).
      ui[name] = { "ui:widget": "code", "ui:options": { languageField: prop["x-ui-language-field"] } };
    } else if (shapeless || freeObject || complex || prop["x-json-schema"]) {
      ui[name] = { "ui:field": "json" };
    } else if (widget === "template") {
      ui[name] = {
        "ui:widget": "template",
        "ui:placeholder": "{{ input.… }}",
        "ui:options": { multiline: !!prop["x-ui-multiline"] },
      };
    } else if (prop["x-ui-multiline"]) {
      // Long text that is not a template (sql.query's SQL): a plain text area, no {{ }} suggestions.
      ui[name] = { "ui:widget": "textarea", "ui:options": { rows: 6 } };
    }
  }
  return ui;
}

/** rjsf reads the schema itself; the `$schema` URI is for other tools. */
export function formSchema(schema: Schema): RJSFSchema {
  const { $schema: _ignored, examples: _examples, ...rest } = schema;
  return rest as RJSFSchema;
}

/** JSON editors whose strings are templates: they get the template path suggestions too. */
const TEMPLATED_JSON = new Set(["json-template", "key-value", "chat-messages", "agent-tools"]);

/** A JSON editor for a value of any shape: keeps the text while it does not parse, says so. */
export function JsonField(props: FieldProps) {
  const { formData, onChange, fieldPathId, schema, disabled, readonly, name } = props;
  const suggestions = useContext(TemplateSuggestionsContext);
  const templated = TEMPLATED_JSON.has(String(schema["x-ui-widget"]));
  const [text, setText] = useState(() => (formData === undefined ? "" : JSON.stringify(formData, null, 2)));
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    // Follow outside changes (another node selected) unless the text already means the same value.
    setText((current) => {
      try {
        if (current.trim() && JSON.stringify(JSON.parse(current)) === JSON.stringify(formData)) return current;
      } catch {
        /* the user's unfinished text is replaced by the new value below */
      }
      return formData === undefined ? "" : JSON.stringify(formData, null, 2);
    });
  }, [formData]);
  const id = fieldPathId.$id;
  return (
    <div className="json-field grid gap-1.5">
      <label htmlFor={id}>{(schema.title as string | undefined) ?? name} (JSON)</label>
      {schema.description ? <p className="field-description">{String(schema.description)}</p> : null}
      <TemplateInput
        id={id}
        multiline
        rows={4}
        value={text}
        disabled={disabled || readonly}
        invalid={!!problem}
        suggestions={templated ? suggestions : []}
        onChange={(next) => {
          setText(next);
          if (!next.trim()) {
            setProblem(null);
            onChange(undefined, fieldPathId.path, undefined, id);
            return;
          }
          try {
            const value: unknown = JSON.parse(next);
            setProblem(null);
            // With the field's id, like rjsf's own fields: the form tells a user's edit by it (see SchemaForm's onEdit).
            onChange(value, fieldPathId.path, undefined, id);
          } catch {
            setProblem("Not valid JSON yet: the last valid value is kept.");
          }
        }}
      />
      {problem ? <p className="text-xs text-destructive">{problem}</p> : null}
    </div>
  );
}

export interface SchemaFormProps {
  schema: Schema;
  formData: unknown;
  /** Every change of the form's data, the defaults it fills in by itself included. */
  onChange?: (data: unknown) => void;
  /**
   * The user's edits only, of an object's top-level fields: what the form derives by itself (schema defaults and
   * minimum array items, filled in when it mounts or its data changes) is no edit and is left out of the data, unless
   * the user edited that field. The builder's inspector uses this: selecting a node changes nothing.
   */
  onEdit?: (data: Record<string, unknown>) => void;
  onSubmit?: (data: unknown) => void;
  extraErrors?: ErrorSchema;
  readonly?: boolean;
  idPrefix?: string;
  liveValidate?: boolean;
  children?: ReactNode;
}

export function SchemaForm({
  schema,
  formData,
  onChange,
  onEdit,
  onSubmit,
  extraErrors,
  readonly,
  idPrefix = "cfg",
  liveValidate,
  children,
}: SchemaFormProps) {
  const ui = uiSchemaFor(schema);
  const properties = Object.keys(asObject(schema.properties) ?? {});
  if (children) ui["ui:submitButtonOptions"] = { norender: true };
  // The form's data as it is now (the user's last change included), for widgets that read a sibling field.
  const [live, setLive] = useState<unknown>(formData);
  useEffect(() => setLive(formData), [formData]);
  const current = useMemo(() => ({ schema, data: live }), [schema, live]);
  return (
    <FormDataContext.Provider value={current}>
      <Form
        schema={formSchema(schema)}
        uiSchema={ui}
        formData={formData}
        validator={validator}
        fields={{ json: JsonField }}
        widgets={{ template: TemplateWidget, code: CodeWidget }}
        idPrefix={idPrefix}
        extraErrors={extraErrors}
        extraErrorsBlockSubmit={false}
        showErrorList={false}
        readonly={readonly}
        liveValidate={liveValidate ? "onChange" : undefined}
        noHtml5Validate
        onChange={(e, id) => {
          setLive(e.formData);
          onChange?.(e.formData);
          // A change with no field behind it is the form's own doing (defaults): no edit.
          if (onEdit && id !== undefined) {
            const edited = topLevelProperty(id, idPrefix, properties);
            onEdit(editedConfig(asObject(formData) ?? {}, asObject(e.formData) ?? {}, edited));
          }
        }}
        onSubmit={(e) => onSubmit?.(e.formData)}
      >
        {/* biome-ignore lint/complexity/noUselessFragments: rjsf draws its own submit button unless given children */}
        {children ?? <></>}
      </Form>
    </FormDataContext.Provider>
  );
}
