// A schema form reports more than its user's edits: rjsf fills in the schema's defaults (and the minimum number
// of array items) when it mounts or its data changes, and reports that as a change, with no field behind it. In the
// builder that made merely selecting a node an edit ("Unsaved changes"), and wrote things such as `cases: [null]`
// into a switch's config. These helpers keep a node's config to what its user set.

/** The top-level property a field id belongs to (`cfg_timeout_s` → `timeout_s`, `cfg_cases_0` → `cases`), or null. */
export function topLevelProperty(id: string, idPrefix: string, properties: readonly string[]): string | null {
  const prefix = `${idPrefix}_`;
  if (!id.startsWith(prefix)) return null;
  const rest = id.slice(prefix.length);
  let best: string | null = null;
  for (const name of properties) {
    if ((rest === name || rest.startsWith(`${name}_`)) && (best === null || name.length > best.length)) best = name;
  }
  return best;
}

/**
 * The config after the user edited `edited` (a top-level property): the form's data, less the top-level keys that
 * `before` did not have and that are not `edited` (what the form derived by itself). The engine applies top-level
 * defaults when it runs a step, so leaving them out changes nothing but the draft's noise.
 */
export function editedConfig(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  edited: string | null,
): Record<string, unknown> {
  return Object.fromEntries(Object.entries(after).filter(([key]) => key in before || key === edited));
}
