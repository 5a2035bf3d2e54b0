// Completions for the code node's editor: the same upstream paths as in template fields (templatePaths.ts), written
// as the code reads them. `main(input, steps, run)` gets plain objects: JavaScript reads `steps.fetch.output.x` (or
// `steps['my-node'].output.x`), Python reads dicts, `steps["fetch"]["output"]["x"]`. Pure.
import type { TemplateSuggestion } from "./templatePaths";

export type CodeLanguage = "javascript" | "python";

/** The language a code field is in: its sibling language field's value, else that field's default; null: plain text. */
export function codeLanguage(
  schema: Record<string, unknown>,
  languageField: unknown,
  data: unknown,
): CodeLanguage | null {
  if (typeof languageField !== "string" || !languageField) return null;
  const given = data && typeof data === "object" ? (data as Record<string, unknown>)[languageField] : undefined;
  const props = (schema.properties ?? {}) as Record<string, Record<string, unknown> | undefined>;
  const value = given ?? props[languageField]?.default;
  return value === "javascript" || value === "python" ? value : null;
}

/** `steps['a-b'].output.x` -> ["steps", "a-b", "output", "x"]; null when the path is not dotted names and ['…'] keys. */
export function pathSegments(path: string): string[] | null {
  const out: string[] = [];
  const re = /^(?:\.?([A-Za-z_][A-Za-z0-9_]*)|\['((?:[^'\\]|\\.)*)'\])/;
  let rest = path;
  while (rest) {
    const m = re.exec(rest);
    if (!m || (out.length === 0 && rest.startsWith("."))) return null;
    out.push(m[1] ?? m[2]!.replace(/\\(.)/g, "$1"));
    rest = rest.slice(m[0].length);
  }
  return out.length ? out : null;
}

const JS_IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** The segments as an expression of the language: dotted in JavaScript (brackets for other keys), subscripts in Python. */
export function codePath(segments: readonly string[], language: CodeLanguage): string {
  const [root, ...keys] = segments;
  let out = root ?? "";
  for (const key of keys) {
    if (language === "python") out += `[${JSON.stringify(key)}]`;
    else out += JS_IDENT.test(key) ? `.${key}` : `['${key.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}']`;
  }
  return out;
}

/** The template suggestions rewritten for the language (paths that do not parse are left out). */
export function codeSuggestions(suggestions: readonly TemplateSuggestion[], language: CodeLanguage): TemplateSuggestion[] {
  const out: TemplateSuggestion[] = [];
  const seen = new Set<string>();
  for (const s of suggestions) {
    const segments = pathSegments(s.path);
    if (!segments) continue;
    const path = codePath(segments, language);
    if (seen.has(path)) continue;
    seen.add(path);
    out.push({ path, detail: s.detail });
  }
  return out;
}

// A path being typed: names, dots, brackets and the quotes inside them, ending at the caret.
const PATH_BEFORE = /[A-Za-z0-9_$.[\]'"-]*$/;

export interface CodeCompletion {
  /** Where the typed path starts: a chosen option replaces the text from here to the caret. */
  from: number;
  options: TemplateSuggestion[];
}

/**
 * The paths to offer at `pos` in `text`. While typing (`explicit` false) only paths that start with what was typed,
 * and only once a name is begun; asked for (Ctrl-Space), also paths that contain it, and all of them at an empty word.
 */
export function codeCompletions(
  text: string,
  pos: number,
  suggestions: readonly TemplateSuggestion[],
  explicit: boolean,
  limit = 100,
): CodeCompletion | null {
  let typed = PATH_BEFORE.exec(text.slice(0, pos))![0];
  // Only a path that begins a name: `x.input` is a property of x, not the run input.
  const start = /[A-Za-z_$]/.exec(typed)?.index ?? typed.length;
  typed = typed.slice(start);
  const from = pos - typed.length;
  const before = text.slice(0, from);
  if (/[A-Za-z0-9_$.]$/.test(before)) return null;
  if (!typed && !explicit) return null;
  const q = typed.toLowerCase();
  const prefix: TemplateSuggestion[] = [];
  const inside: TemplateSuggestion[] = [];
  for (const s of suggestions) {
    const p = s.path.toLowerCase();
    if (p === q) continue; // typed in full already
    if (p.startsWith(q)) prefix.push(s);
    else if (explicit && q && p.includes(q)) inside.push(s);
  }
  const options = [...prefix, ...inside].slice(0, limit);
  return options.length ? { from, options } : null;
}
