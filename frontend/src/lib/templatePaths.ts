// Template autocompletion: which `{{ … }}` paths a node's config can read, and where the caret is in a template.
// A node reads `input.*` (the run input, described by the trigger's input_schema), `steps.<id>.output.*` of the
// nodes upstream of it (described by their types' output schemas) and `run.*`. Pure.
import { stepRef } from "./clipboard";
import type { Definition } from "./definition";
import { asObject, type JSONObject } from "./json";

export interface TemplateSuggestion {
  path: string;
  /** A short hint: the value's type and description. */
  detail: string;
}

/** What the suggestions need to know of a node type. */
export interface TemplateTypeInfo {
  trigger: boolean;
  outputSchema?: unknown;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `base.key`, or `base['key']` when the key is not a plain name. */
export function accessPath(base: string, key: string): string {
  return IDENT.test(key) ? `${base}.${key}` : `${base}['${key.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}']`;
}

function describe(schema: JSONObject): string {
  const type = Array.isArray(schema.type) ? schema.type.join(" | ") : typeof schema.type === "string" ? schema.type : "";
  const text = typeof schema.description === "string" ? schema.description : typeof schema.title === "string" ? schema.title : "";
  return [type, text].filter(Boolean).join(" · ");
}

/** The property paths a JSON Schema describes under `base`, nested objects up to `depth` levels. */
export function schemaPaths(schema: unknown, base: string, depth = 3): TemplateSuggestion[] {
  const s = asObject(schema);
  const props = asObject(s?.properties);
  if (!props || depth <= 0) return [];
  const out: TemplateSuggestion[] = [];
  for (const [key, raw] of Object.entries(props)) {
    const prop = asObject(raw) ?? {};
    const path = accessPath(base, key);
    out.push({ path, detail: describe(prop) });
    out.push(...schemaPaths(prop, path, depth - 1));
  }
  return out;
}

/** Ids of every node from which `nodeId` is reachable (itself excluded), in definition order. */
export function upstreamIds(def: Definition, nodeId: string): string[] {
  const into = new Map<string, string[]>();
  for (const e of def.edges ?? []) into.set(e.target, [...(into.get(e.target) ?? []), e.source]);
  const seen = new Set<string>();
  const stack = [nodeId];
  while (stack.length) {
    for (const source of into.get(stack.pop()!) ?? []) {
      if (!seen.has(source)) {
        seen.add(source);
        stack.push(source);
      }
    }
  }
  seen.delete(nodeId);
  return def.nodes.map((n) => n.id).filter((id) => seen.has(id));
}

export const RUN_PATHS: TemplateSuggestion[] = [
  { path: "run.id", detail: "string · the run's id" },
  { path: "run.workflow", detail: "string · the workflow's id" },
  { path: "run.version", detail: "integer · the published version" },
  { path: "run.trigger", detail: "string · what started the run" },
];

/** Every path a template in `nodeId`'s config can read. */
export function templateSuggestions(
  def: Definition,
  nodeId: string,
  types: ReadonlyMap<string, TemplateTypeInfo>,
): TemplateSuggestion[] {
  const trigger = def.nodes.find((n) => types.get(n.type)?.trigger);
  const inputSchema = asObject(trigger?.config?.input_schema);
  const inputDescribed = asObject(inputSchema?.properties)
    ? inputSchema
    : trigger
      ? types.get(trigger.type)?.outputSchema
      : undefined;
  const out: TemplateSuggestion[] = [{ path: "input", detail: "the run input" }, ...schemaPaths(inputDescribed, "input")];
  const byId = new Map(def.nodes.map((n) => [n.id, n]));
  for (const id of upstreamIds(def, nodeId)) {
    const node = byId.get(id)!;
    const type = types.get(node.type);
    const base = `${stepRef(id)}.output`;
    out.push({ path: base, detail: `output of ${node.type}` });
    out.push(...schemaPaths(type?.trigger ? inputDescribed : type?.outputSchema, base));
  }
  out.push(...RUN_PATHS);
  // Every wait.event step's resume URL is known from the run's start: any node may send it out (studio_shared/authoring.py).
  for (const n of def.nodes) {
    if (n.type === RESUMABLE_TYPE) {
      out.push({ path: accessPath("run.resume_urls", n.id), detail: `string · the resume URL of step ${n.id}` });
    }
  }
  return out;
}

/** The node type whose steps have a resume URL (`run.resume_urls.<step id>`). */
export const RESUMABLE_TYPE = "wait.event";

/** Where the caret is inside an open `{{ … }}`: the partial path around it and whether `}}` follows. */
export interface TemplateContext {
  /** The partial path typed so far (before the caret). */
  query: string;
  /** The range a chosen path replaces: the whole path-like word around the caret. */
  from: number;
  to: number;
  /** True when the expression is already closed by `}}` after the caret. */
  closed: boolean;
}

const PATH_CHARS_BEFORE = /[A-Za-z0-9_.[\]'"-]*$/;
const PATH_CHARS_AFTER = /^[A-Za-z0-9_.[\]'"-]*/;

/** The template context at `caret`, or null when the caret is not inside `{{ … }}`. */
export function templateContext(text: string, caret: number): TemplateContext | null {
  const before = text.slice(0, caret);
  const open = before.lastIndexOf("{{");
  if (open < 0 || before.lastIndexOf("}}") > open) return null;
  const query = PATH_CHARS_BEFORE.exec(before.slice(open + 2))![0];
  const rest = PATH_CHARS_AFTER.exec(text.slice(caret))![0];
  const nextClose = text.indexOf("}}", caret);
  const nextOpen = text.indexOf("{{", caret);
  return {
    query,
    from: caret - query.length,
    to: caret + rest.length,
    closed: nextClose >= 0 && (nextOpen < 0 || nextClose < nextOpen),
  };
}

/** The suggestions for a partial path: prefix matches first, then the ones that contain it (case-insensitive). */
export function matchSuggestions(
  all: readonly TemplateSuggestion[],
  query: string,
  limit = 50,
): TemplateSuggestion[] {
  const q = query.toLowerCase();
  const prefix: TemplateSuggestion[] = [];
  const inside: TemplateSuggestion[] = [];
  for (const s of all) {
    const p = s.path.toLowerCase();
    if (p === q) continue; // already typed in full
    if (p.startsWith(q)) prefix.push(s);
    else if (q && p.includes(q)) inside.push(s);
  }
  return [...prefix, ...inside].slice(0, limit);
}

/** The text with the chosen path in place of the partial one (closing `}}` added when missing), and the caret after it. */
export function applySuggestion(text: string, ctx: TemplateContext, path: string): { text: string; caret: number } {
  const before = text.slice(0, ctx.from);
  let insert = before.endsWith("{{") ? ` ${path}` : path;
  const after = text.slice(ctx.to);
  if (!ctx.closed) insert += " }}";
  else if (!/^\s/.test(after) && after.startsWith("}}")) insert += " ";
  return { text: before + insert + after, caret: before.length + insert.length };
}
