// Undo/redo for the builder: a capped history of graph states. Pure: every function returns a new History.
// Consecutive records with the same `group` within `window` ms replace the newest state instead of adding one,
// so a burst of keystrokes in one inspector field is a single undo step.
import type { DefNode, Definition } from "./definition";

export interface History<T> {
  /** Older states, oldest first. */
  past: T[];
  present: T;
  /** States undone, the next redo first. */
  future: T[];
  /** The most states kept in `past` (older ones are dropped). */
  cap: number;
  /** The burst `present` belongs to, and when it last grew; null once something else happened. */
  group: string | null;
  groupAt: number;
}

export interface RecordOptions<T> {
  /** Records in the same group within `window` ms coalesce into one entry. */
  group?: string | null;
  /** The time of the record (ms); default Date.now(). */
  now?: number;
  /** How long a burst may pause and still coalesce (ms). */
  window?: number;
  /** A state equal to `present` records nothing; default ===. */
  equals?: (a: T, b: T) => boolean;
  /**
   * The new state stands in for `present` (the same thing, normalised: say, a form filled in defaults): no new
   * entry, the redo list and the burst kept.
   */
  replace?: boolean;
}

export const HISTORY_CAP = 100;
export const COALESCE_WINDOW_MS = 1500;

export function createHistory<T>(present: T, cap: number = HISTORY_CAP): History<T> {
  return { past: [], present, future: [], cap: Math.max(1, cap), group: null, groupAt: 0 };
}

/** A new state: pushes `present` onto `past` (or replaces it within a burst) and clears the redo list. */
export function record<T>(h: History<T>, next: T, options: RecordOptions<T> = {}): History<T> {
  const equals = options.equals ?? Object.is;
  if (equals(h.present, next)) return h;
  if (options.replace) return { ...h, present: next };
  const now = options.now ?? Date.now();
  const group = options.group ?? null;
  const window = options.window ?? COALESCE_WINDOW_MS;
  if (group !== null && group === h.group && now - h.groupAt <= window && h.future.length === 0) {
    return { ...h, present: next, groupAt: now };
  }
  const past = [...h.past, h.present];
  if (past.length > h.cap) past.splice(0, past.length - h.cap);
  return { ...h, past, present: next, future: [], group, groupAt: now };
}

export function canUndo(h: History<unknown>): boolean {
  return h.past.length > 0;
}

export function canRedo(h: History<unknown>): boolean {
  return h.future.length > 0;
}

/** The previous state becomes `present`; unchanged when there is none. */
export function undo<T>(h: History<T>): History<T> {
  if (!h.past.length) return h;
  const past = h.past.slice(0, -1);
  return { ...h, past, present: h.past[h.past.length - 1]!, future: [h.present, ...h.future], group: null };
}

/** The next undone state becomes `present`; unchanged when there is none. */
export function redo<T>(h: History<T>): History<T> {
  if (!h.future.length) return h;
  const [next, ...future] = h.future;
  const past = [...h.past, h.present];
  if (past.length > h.cap) past.splice(0, past.length - h.cap);
  return { ...h, past, present: next!, future, group: null };
}

/** Ends the current burst: the next record adds an entry even in the same group. */
export function seal<T>(h: History<T>): History<T> {
  return h.group === null ? h : { ...h, group: null };
}

/**
 * The config keys an inspector edit changed, for grouping a burst per field. Keys that only appeared with their
 * schema default do not count: the form fills defaults in by itself (when it shows a node), which is no edit.
 */
export function editedFields(
  prev: Record<string, unknown>,
  next: Record<string, unknown>,
  defaults: Record<string, unknown> = {},
): string[] {
  const keys = new Set([...Object.keys(prev), ...Object.keys(next)]);
  return [...keys]
    .filter((k) => JSON.stringify(prev[k]) !== JSON.stringify(next[k]))
    .filter((k) => !(prev[k] === undefined && k in defaults && JSON.stringify(next[k]) === JSON.stringify(defaults[k])))
    .sort();
}

/** A 53-bit hash of a string (cyrb53): history entries keep it instead of the whole definition's JSON. */
export function hashString(text: string, seed = 0): string {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return `${(4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36)}:${text.length}`;
}

/** How to record a change from one definition to the next. */
export interface EditKind {
  /** `config:<node>:<keys>` or `label:<node>` for an edit of one node's config keys or label, else null. */
  group: string | null;
  /** True when the change only filled in config defaults: the same state, normalised. */
  replace: boolean;
}

const positionOf = (n: DefNode) => `${n.position?.x},${n.position?.y}`;
const withoutConfig = ({ config: _c, position: _p, ...rest }: DefNode) => JSON.stringify(rest);

/**
 * Classifies a change for the history: an edit of one node's config keys or label (a burst of those coalesces),
 * defaults filled into one node's config (no entry of its own), or anything else (an entry of its own).
 */
export function classifyEdit(
  prev: Definition,
  next: Definition,
  defaultsOf: (type: string) => Record<string, unknown> = () => ({}),
): EditKind {
  const other: EditKind = { group: null, replace: false };
  if (prev.nodes.length !== next.nodes.length) return other;
  if (JSON.stringify(prev.edges ?? []) !== JSON.stringify(next.edges ?? [])) return other;
  let changed: { before: DefNode; after: DefNode; config: boolean; rest: boolean } | null = null;
  for (let i = 0; i < next.nodes.length; i++) {
    const before = prev.nodes[i]!;
    const after = next.nodes[i]!;
    if (before.id !== after.id || before.type !== after.type || positionOf(before) !== positionOf(after)) return other;
    const config = before.config !== after.config && JSON.stringify(before.config) !== JSON.stringify(after.config);
    const rest = withoutConfig(before) !== withoutConfig(after);
    if (!config && !rest) continue;
    if (changed) return other; // more than one node
    changed = { before, after, config, rest };
  }
  if (!changed) return other;
  const { before, after } = changed;
  if (changed.config && !changed.rest) {
    const fields = editedFields(before.config ?? {}, after.config ?? {}, defaultsOf(after.type));
    return fields.length ? { group: `config:${after.id}:${fields.join(",")}`, replace: false } : { group: null, replace: true };
  }
  if (!changed.config && withoutConfig({ ...before, label: undefined }) === withoutConfig({ ...after, label: undefined })) {
    return { group: `label:${after.id}`, replace: false };
  }
  return other;
}

/**
 * The group of a keyboard nudge (the arrow keys move the selected nodes): `nudge:<ids>` when only the positions of
 * those nodes changed, else null. Consecutive nudges of the same selection share it and coalesce into one undo step.
 */
export function nudgeGroup(prev: Definition, next: Definition): string | null {
  if (prev.nodes.length !== next.nodes.length) return null;
  if (JSON.stringify(prev.edges ?? []) !== JSON.stringify(next.edges ?? [])) return null;
  const moved: string[] = [];
  for (let i = 0; i < next.nodes.length; i++) {
    const before = prev.nodes[i]!;
    const after = next.nodes[i]!;
    if (before.id !== after.id) return null;
    const { position: _a, ...restBefore } = before;
    const { position: _b, ...restAfter } = after;
    if (JSON.stringify(restBefore) !== JSON.stringify(restAfter)) return null;
    if (positionOf(before) !== positionOf(after)) moved.push(after.id);
  }
  return moved.length ? `nudge:${moved.sort().join(",")}` : null;
}
