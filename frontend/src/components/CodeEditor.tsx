// CodeMirror 6 for the code node's source: syntax highlighting for the field's language, the node's upstream paths as
// completions (lib/codePaths.ts), undo history, bracket matching and auto-indent. Loaded on its own (CodeField.tsx
// imports it lazily): the app's bundle carries none of it until a code field is shown.
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap, type CompletionSource } from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { bracketMatching, HighlightStyle, indentOnInput, syntaxHighlighting } from "@codemirror/language";
import { Compartment, EditorState, type Extension } from "@codemirror/state";
import { drawSelection, EditorView, highlightActiveLine, keymap, lineNumbers, placeholder as placeholderText } from "@codemirror/view";
import { tags as t } from "@lezer/highlight";
import { useEffect, useRef } from "react";
import { codeCompletions, codeSuggestions, type CodeLanguage } from "../lib/codePaths";
import type { TemplateSuggestion } from "../lib/templatePaths";

export interface CodeEditorProps {
  id: string;
  value: string;
  onChange: (value: string) => void;
  language: CodeLanguage | null;
  suggestions: readonly TemplateSuggestion[];
  /** The accessible name (the field's title): a contenteditable is not labelled by a <label for>. */
  label: string;
  describedBy?: string;
  readOnly?: boolean;
  invalid?: boolean;
  placeholder?: string;
  onBlur?: (value: string) => void;
  onFocus?: (value: string) => void;
}

// Colours in light-dark() pairs like styles.css, so the editor follows the theme with no second style.
const highlight = HighlightStyle.define([
  { tag: [t.keyword, t.controlKeyword, t.moduleKeyword, t.operatorKeyword], color: "light-dark(#8250df, #d2a8ff)" },
  { tag: [t.string, t.special(t.string), t.regexp], color: "light-dark(#0a3069, #a5d6ff)" },
  { tag: [t.number, t.bool, t.null, t.atom], color: "light-dark(#0550ae, #79c0ff)" },
  { tag: [t.comment, t.lineComment, t.blockComment], color: "light-dark(#57606a, #8b949e)", fontStyle: "italic" },
  { tag: [t.function(t.variableName), t.function(t.propertyName), t.definition(t.function(t.variableName))], color: "light-dark(#6639ba, #d2a8ff)" },
  { tag: [t.definition(t.variableName), t.className, t.typeName], color: "light-dark(#953800, #ffa657)" },
  { tag: t.propertyName, color: "light-dark(#0550ae, #79c0ff)" },
  { tag: t.invalid, color: "var(--destructive)" },
]);

const theme = EditorView.theme({
  "&": {
    fontSize: "0.75rem",
    border: "1px solid var(--input)",
    borderRadius: "var(--radius-md, 6px)",
    backgroundColor: "var(--card)",
    color: "var(--foreground)",
  },
  "&.cm-focused": { outline: "2px solid var(--ring)", outlineOffset: "1px" },
  "&.cm-invalid": { borderColor: "var(--destructive)" },
  ".cm-scroller": { fontFamily: "ui-monospace, SFMono-Regular, Menlo, monospace", minHeight: "8rem", maxHeight: "28rem" },
  ".cm-gutters": { backgroundColor: "var(--muted)", color: "var(--muted-foreground)", border: "none" },
  ".cm-activeLine": { backgroundColor: "color-mix(in srgb, var(--accent) 50%, transparent)" },
  ".cm-content": { caretColor: "var(--foreground)" },
  "&.cm-focused .cm-selectionBackground, .cm-selectionBackground, ::selection": {
    backgroundColor: "color-mix(in srgb, var(--primary) 30%, transparent)",
  },
  ".cm-tooltip": { backgroundColor: "var(--popover)", color: "var(--popover-foreground)", border: "1px solid var(--border)" },
  ".cm-tooltip-autocomplete ul li[aria-selected]": { backgroundColor: "var(--primary)", color: "var(--primary-foreground)" },
  ".cm-completionDetail": { opacity: "0.75", fontStyle: "normal", marginLeft: "0.5em" },
});

/** Each language's grammar is a chunk of its own, fetched when a field in that language is shown. */
async function languageSupport(language: CodeLanguage | null): Promise<Extension> {
  if (language === "javascript") return (await import("@codemirror/lang-javascript")).javascript();
  if (language === "python") return (await import("@codemirror/lang-python")).python();
  return [];
}

/** The upstream paths, in the language's syntax, as a CodeMirror completion source. */
export function pathCompletionSource(
  suggestions: readonly TemplateSuggestion[],
  language: CodeLanguage | null,
): CompletionSource {
  const paths = codeSuggestions(suggestions, language ?? "javascript");
  return (ctx) => {
    const found = codeCompletions(ctx.state.doc.toString(), ctx.pos, paths, ctx.explicit);
    if (!found) return null;
    return {
      from: found.from,
      options: found.options.map((s) => ({ label: s.path, detail: s.detail, type: "variable" })),
      filter: false, // codeCompletions has matched them; asked again at every keystroke
    };
  };
}

interface Attributes {
  id: string;
  label: string;
  describedBy?: string;
  invalid?: boolean;
  readOnly?: boolean;
}

function attributes(a: Attributes): Extension {
  return [
    EditorView.editorAttributes.of(a.invalid ? { class: "cm-invalid" } : {}),
    EditorView.contentAttributes.of({
      id: a.id,
      "aria-label": a.label,
      "aria-multiline": "true",
      ...(a.describedBy ? { "aria-describedby": a.describedBy } : {}),
      ...(a.invalid ? { "aria-invalid": "true" } : {}),
      ...(a.readOnly ? { "aria-readonly": "true" } : {}),
    }),
  ];
}

function editable(readOnly: boolean | undefined): Extension {
  return [EditorState.readOnly.of(!!readOnly), EditorView.editable.of(!readOnly)];
}

function completion(suggestions: readonly TemplateSuggestion[], language: CodeLanguage | null): Extension {
  return autocompletion({ override: [pathCompletionSource(suggestions, language)], icons: false });
}

export function CodeEditor(props: CodeEditorProps) {
  const { id, value, language, suggestions, label, describedBy, readOnly, invalid } = props;
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  // The latest props for the editor's callbacks and its first state: the editor is created once.
  const latest = useRef(props);
  latest.current = props;
  const slots = useRef({ language: new Compartment(), completion: new Compartment(), editable: new Compartment(), attributes: new Compartment() });

  useEffect(() => {
    const p = latest.current;
    const slot = slots.current;
    const v = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: p.value,
        extensions: [
          lineNumbers(),
          history(),
          drawSelection(),
          indentOnInput(),
          bracketMatching(),
          closeBrackets(),
          highlightActiveLine(),
          syntaxHighlighting(highlight),
          EditorState.tabSize.of(4),
          placeholderText(p.placeholder ?? ""),
          keymap.of([...closeBracketsKeymap, ...completionKeymap, ...historyKeymap, ...defaultKeymap, indentWithTab]),
          theme,
          slot.language.of([]), // the language's grammar follows when it has loaded (the effect below)
          slot.completion.of(completion(p.suggestions, p.language)),
          slot.editable.of(editable(p.readOnly)),
          slot.attributes.of(attributes(p)),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) latest.current.onChange(u.state.doc.toString());
            if (u.focusChanged) {
              const text = u.state.doc.toString();
              if (u.view.hasFocus) latest.current.onFocus?.(text);
              else latest.current.onBlur?.(text);
            }
          }),
        ],
      }),
    });
    view.current = v;
    return () => {
      v.destroy();
      view.current = null;
    };
  }, []);

  // Follow a value changed from outside (undo in the builder, another node); the editor's own edits match already.
  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value) v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
  }, [value]);

  useEffect(() => {
    let current = true;
    void languageSupport(language).then((support) => {
      if (current) view.current?.dispatch({ effects: slots.current.language.reconfigure(support) });
    });
    return () => {
      current = false;
    };
  }, [language]);

  useEffect(() => {
    view.current?.dispatch({ effects: slots.current.completion.reconfigure(completion(suggestions, language)) });
  }, [language, suggestions]);

  useEffect(() => {
    const slot = slots.current;
    view.current?.dispatch({
      effects: [
        slot.editable.reconfigure(editable(readOnly)),
        slot.attributes.reconfigure(attributes({ id, label, describedBy, invalid, readOnly })),
      ],
    });
  }, [id, label, describedBy, invalid, readOnly]);

  return <div ref={host} className="code-editor" data-language={language ?? "text"} />;
}

export default CodeEditor;
