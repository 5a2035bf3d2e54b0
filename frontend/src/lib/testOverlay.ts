// The builder's canvas during and after a test of the draft: each node's status in the test run, its output
// inline (compact, expandable) and whether the draft pins its output. Nodes that did not change stay the same
// objects (React Flow re-renders only what changed).
import type { StepNode } from "./definition";

/** What the canvas shows of one step of the test run. */
export interface TestStepView {
  status: string;
  output?: unknown;
  pinned?: boolean;
}

/** JSON text of an output, at most `max` characters on one line (the full value is shown when expanded). */
export function compactJson(value: unknown, max = 60): string {
  const text = value === undefined ? "" : JSON.stringify(value) ?? String(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function overlayTest(
  nodes: readonly StepNode[],
  steps: Readonly<Record<string, TestStepView>> | null,
  pinned: ReadonlySet<string>,
  cache: WeakMap<StepNode, StepNode>,
): StepNode[] {
  return nodes.map((n) => {
    const step = steps?.[n.id];
    const status = step?.status;
    const output = step && step.output !== undefined && step.output !== null ? JSON.stringify(step.output, null, 2) : undefined;
    const isPinned = pinned.has(n.id) || undefined;
    if (status === undefined && output === undefined && !isPinned) return n;
    const cached = cache.get(n);
    if (cached && cached.data.status === status && cached.data.output === output && cached.data.pinned === isPinned) return cached;
    const shown: StepNode = { ...n, data: { ...n.data, status, output, pinned: isPinned } };
    cache.set(n, shown);
    return shown;
  });
}
