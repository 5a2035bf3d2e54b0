// Maps UserError paths (e.g. ["nodes","2","config","url"]) onto the node and config field they belong to.
import type { UserError } from "../api/types";
import type { Definition, Problem } from "./definition";

export interface MappedErrors {
  /** node id -> problems on that node; `field` is the path inside its config, ["id"] etc. for node keys. */
  byNode: Record<string, Problem[]>;
  /** index of the edge in the definition -> problems */
  byEdge: Record<number, Problem[]>;
  /** problems of the whole definition (trigger count, document shape) */
  general: Problem[];
}

export function mapUserErrors(errors: readonly UserError[], def: Definition): MappedErrors {
  const out: MappedErrors = { byNode: {}, byEdge: {}, general: [] };
  for (const err of errors) {
    let path = [...err.path];
    if (path[0] === "definition") path = path.slice(1); // payloads of mutations taking `definition`
    const problem = (field: string[]): Problem =>
      err.severity === "WARNING" ? { message: err.message, code: err.code, field, warning: true } : { message: err.message, code: err.code, field };
    const index = path.length > 1 ? Number(path[1]) : NaN;
    if (path[0] === "nodes" && Number.isInteger(index) && def.nodes[index]) {
      const nodeId = def.nodes[index].id;
      const rest = path.slice(2);
      let field = rest[0] === "config" ? rest.slice(1) : rest.length ? [`@${rest.join(".")}`] : [];
      // A missing key is reported on the object that lacks it, named as a JSON string: point at the key instead.
      const missing = requiredKey(err.message);
      if (rest[0] === "config" && missing) field = [...field, missing];
      (out.byNode[nodeId] ??= []).push(problem(field));
    } else if (path[0] === "edges" && Number.isInteger(index) && def.edges?.[index]) {
      (out.byEdge[index] ??= []).push(problem(path.slice(2)));
      // An edge problem also belongs to the node the edge leaves, where a user looks for it.
      const source = def.edges[index].source;
      if (def.nodes.some((n) => n.id === source)) (out.byNode[source] ??= []).push(problem([]));
    } else {
      out.general.push(problem([]));
    }
  }
  return out;
}

/** The key a "…" is a required property message names (the server quotes it as JSON), or null. */
function requiredKey(message: string): string | null {
  const quoted = /^("(?:[^"\\]|\\.)*") is a required property/.exec(message)?.[1];
  if (!quoted) return null;
  try {
    return JSON.parse(quoted) as string;
  } catch {
    return null;
  }
}

/** rjsf `extraErrors` (an ErrorSchema) for the config fields of one node's problems. */
export interface ErrorSchemaNode {
  __errors?: string[];
  [key: string]: ErrorSchemaNode | string[] | undefined;
}

export function toErrorSchema(problems: readonly Problem[]): ErrorSchemaNode {
  const root: ErrorSchemaNode = {};
  for (const p of problems) {
    if (p.field[0]?.startsWith("@")) continue; // node-level key (id, retry, …), not a config field
    if (p.warning) continue; // warnings are listed apart: a form field in error style would say "invalid"
    let at: ErrorSchemaNode = root;
    for (const key of p.field) {
      const next = (at[key] as ErrorSchemaNode | undefined) ?? {};
      at[key] = next;
      at = next;
    }
    (at.__errors ??= []).push(p.message);
  }
  return root;
}
