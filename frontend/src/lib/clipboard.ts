// Copy/paste of builder nodes: the selected nodes and the edges between them, pasted with fresh ids. Pure.
import { NODE_ID_PATTERN, type DefEdge, type DefNode, type Definition, type Position } from "./definition";

/** What Ctrl/Cmd+C keeps: definition nodes (with positions) and the edges among them. */
export interface Clip {
  nodes: DefNode[];
  edges: DefEdge[];
}

export const PASTE_OFFSET = 40;

/** The nodes of `def` whose ids are in `selected`, and every edge with both ends among them. */
export function copyNodes(def: Definition, selected: Iterable<string>): Clip | null {
  const ids = new Set(selected);
  const nodes = def.nodes.filter((n) => ids.has(n.id));
  if (!nodes.length) return null;
  const edges = (def.edges ?? []).filter((e) => ids.has(e.source) && ids.has(e.target));
  return structuredClone({ nodes, edges });
}

/**
 * A fresh id for a copy of `id`: its stem (without a trailing `_<n>`) plus the first free `_<n>`. Always matches
 * the schema's node_id (^[A-Za-z_][A-Za-z0-9_-]{0,63}$) and is not in `taken`.
 */
export function copyId(id: string, taken: ReadonlySet<string>): string {
  let stem = id.replace(/_\d+$/, "").replace(/[^A-Za-z0-9_-]+/g, "_").replace(/^[^A-Za-z_]+/, "");
  if (!stem) stem = "node";
  for (let i = 1; ; i++) {
    const suffix = `_${i}`;
    const candidate = stem.slice(0, 64 - suffix.length) + suffix;
    if (!taken.has(candidate) && NODE_ID_PATTERN.test(candidate)) return candidate;
  }
}

const DOT_REF = /steps\.([A-Za-z_][A-Za-z0-9_]*)(?![A-Za-z0-9_])/g;
const BRACKET_REF = /steps\[\s*(['"])([^'"]*)\1\s*\]/g;

/** How a template reads a step: `steps.id` when the id is a plain name, else `steps['id']`. */
export function stepRef(id: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(id) ? `steps.${id}` : `steps['${id}']`;
}

/** Rewrites `steps.<old>` / `steps['<old>']` inside the `{{ … }}` parts of a string to the renamed ids. */
export function renameRefsInText(text: string, renames: ReadonlyMap<string, string>): string {
  if (!text.includes("{{")) return text;
  return text.replace(/\{\{[\s\S]*?(\}\}|$)/g, (expr) =>
    expr
      .replace(DOT_REF, (whole, id: string) => {
        const to = renames.get(id);
        return to === undefined ? whole : stepRef(to);
      })
      .replace(BRACKET_REF, (whole, quote: string, id: string) => {
        const to = renames.get(id);
        return to === undefined ? whole : `steps[${quote}${to}${quote}]`;
      }),
  );
}

/** Every string inside a JSON value, rewritten with renameRefsInText (keys stay). */
export function renameRefs<T>(value: T, renames: ReadonlyMap<string, string>): T {
  if (typeof value === "string") return renameRefsInText(value, renames) as T;
  if (Array.isArray(value)) return value.map((v) => renameRefs(v, renames)) as T;
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renameRefs(v, renames)])) as T;
  }
  return value;
}

/**
 * The clip as new definition nodes and edges: fresh ids not in `taken`, positions moved by `offset`, template
 * references between the pasted nodes pointed at the copies (references to other nodes stay as they were).
 */
export function pasteClip(
  clip: Clip,
  taken: Iterable<string>,
  offset: Position = { x: PASTE_OFFSET, y: PASTE_OFFSET },
): { nodes: DefNode[]; edges: DefEdge[]; ids: Map<string, string> } {
  const used = new Set(taken);
  const ids = new Map<string, string>();
  for (const n of clip.nodes) {
    const id = copyId(n.id, used);
    used.add(id);
    ids.set(n.id, id);
  }
  const nodes = clip.nodes.map((n) => {
    const copy: DefNode = { ...structuredClone(n), id: ids.get(n.id)! };
    if (n.config) copy.config = renameRefs(n.config, ids);
    const at = n.position ?? { x: 0, y: 0 };
    copy.position = { x: at.x + offset.x, y: at.y + offset.y };
    return copy;
  });
  const edges = clip.edges
    .filter((e) => ids.has(e.source) && ids.has(e.target))
    .map((e) => {
      const copy: DefEdge = { source: ids.get(e.source)!, target: ids.get(e.target)! };
      if (e.branch) copy.branch = e.branch;
      return copy;
    });
  return { nodes, edges, ids };
}
