// The input a run starts with when nobody types: the trigger's input_schema defaults, as the API applies them when
// `startRun` gets no input (studio_shared.definition.schema_defaults does the same on the server).
import { asObject } from "./json";

const NONE = Symbol("no default");

function defaultsOf(schema: unknown): unknown {
  const s = asObject(schema);
  if (!s) return NONE;
  if ("default" in s) return structuredClone(s.default);
  const properties = asObject(s.properties);
  if (!properties) return NONE;
  const out: Record<string, unknown> = {};
  for (const [name, sub] of Object.entries(properties)) {
    const value = defaultsOf(sub);
    if (value !== NONE) out[name] = value;
  }
  return out;
}

/** The schema's `default`, else an object of its properties' defaults (recursively), else undefined. */
export function schemaDefaults(schema: unknown): unknown {
  const found = defaultsOf(schema);
  return found === NONE ? undefined : found;
}

/** The input a start dialog pre-fills: the defaults, `{}` without any. */
export function initialRunInput(schema: unknown): unknown {
  return schemaDefaults(schema) ?? {};
}

/** Whether the schema declares input fields a form can show (else the dialog offers a JSON editor). */
export function hasInputFields(schema: unknown): schema is Record<string, unknown> {
  const properties = asObject(asObject(schema)?.properties);
  return !!properties && Object.keys(properties).length > 0;
}

/** The JSON text typed by hand: its value, or why it does not parse. */
export function parseJsonInput(text: string): { value: unknown } | { problem: string } {
  if (!text.trim()) return { problem: "Type a JSON value, such as {}" };
  try {
    return { value: JSON.parse(text) };
  } catch (e) {
    return { problem: `Not valid JSON: ${(e as Error).message}` };
  }
}
