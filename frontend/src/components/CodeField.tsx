// The rjsf widget for `x-ui-widget: code` strings: CodeMirror (CodeEditor.tsx), fetched only when a code field is
// first shown; until it arrives, a plain textarea with the same name that already edits the value. The language comes
// from the sibling field the schema names in `x-ui-language-field` (SchemaForm provides the form's live data).
import type { WidgetProps } from "@rjsf/utils";
import { ariaDescribedByIds } from "@rjsf/utils";
import { createContext, lazy, Suspense, useContext } from "react";
import { codeLanguage, type CodeLanguage } from "../lib/codePaths";
import { TemplateSuggestionsContext } from "./TemplateInput";
import { Textarea } from "./ui/textarea";

const load = () => import("./CodeEditor");
const LazyCodeEditor = lazy(load);

/** The form's current data and schema, for widgets that depend on a sibling field (the code field's language). */
export const FormDataContext = createContext<{ schema: Record<string, unknown>; data: unknown }>({ schema: {}, data: undefined });

const LANGUAGE_NAMES: Record<CodeLanguage, string> = { javascript: "JavaScript", python: "Python" };

export function CodeWidget(props: WidgetProps) {
  const suggestions = useContext(TemplateSuggestionsContext);
  const form = useContext(FormDataContext);
  const { id, value, onChange, onBlur, onFocus, options, label, schema, placeholder, disabled, readonly, rawErrors } = props;
  const language = codeLanguage(form.schema, options.languageField, form.data);
  const text = value == null ? "" : String(value);
  const name = `${(schema.title as string | undefined) ?? label ?? "Code"}${language ? ` (${LANGUAGE_NAMES[language]})` : ""}`;
  const hintId = `${id}__keys`;
  const describedBy = `${ariaDescribedByIds(id)} ${hintId}`;
  const change = (next: string) => onChange(next === "" ? options.emptyValue : next);
  const fallback = (
    <Textarea
      id={id}
      aria-label={name}
      aria-describedby={describedBy}
      aria-invalid={rawErrors?.length ? true : undefined}
      rows={10}
      spellCheck={false}
      value={text}
      placeholder={placeholder}
      disabled={disabled}
      readOnly={readonly}
      onChange={(e) => change(e.target.value)}
      onBlur={(e) => onBlur(id, e.target.value)}
      onFocus={(e) => onFocus(id, e.target.value)}
    />
  );
  return (
    <div className="grid gap-1" data-code-language={language ?? "text"}>
      <Suspense fallback={fallback}>
        <LazyCodeEditor
          id={id}
          value={text}
          onChange={change}
          language={language}
          suggestions={suggestions}
          label={name}
          describedBy={describedBy}
          readOnly={disabled || readonly}
          invalid={!!rawErrors?.length}
          placeholder={placeholder}
          onBlur={(v) => onBlur(id, v)}
          onFocus={(v) => onFocus(id, v)}
        />
      </Suspense>
      <p id={hintId} className="text-xs text-muted-foreground">
        Tab indents; Esc then Tab leaves the editor. Ctrl-Space lists the paths this step can read (input, steps, run).
      </p>
    </div>
  );
}
