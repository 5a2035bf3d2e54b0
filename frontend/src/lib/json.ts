// Values of the `JSON` scalar arrive as `unknown` (codegen.ts); read the ones that should be objects here.

export type JSONObject = Record<string, unknown>;

/** The value if it is a JSON object (a JSON Schema, an envelope), else null. */
export function asObject(value: unknown): JSONObject | null {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as JSONObject) : null;
}
