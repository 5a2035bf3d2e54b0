// Puts the `errors` (UserErrorFields) of a payload next to the form field each belongs to.
import type { UserError } from "../api/types";

export interface FieldErrors {
  /** field key (a dotted path such as "value.token") -> messages */
  byField: Record<string, string[]>;
  /** problems no field of the form owns (NOT_FOUND, CONFLICT without a path, …) */
  general: string[];
}

/**
 * Each error goes to the longest of `fields` its path starts with (["value", "token"] -> "value.token",
 * ["allowedHosts", "2"] -> "allowedHosts"), after `strip` is removed from the front of the path (mutations
 * that take an `input` argument report ["input", "cron"]).
 */
export function fieldErrors(
  errors: readonly UserError[] | null | undefined,
  fields: readonly string[],
  strip: readonly string[] = [],
): FieldErrors {
  const out: FieldErrors = { byField: {}, general: [] };
  const keys = [...fields].sort((a, b) => b.split(".").length - a.split(".").length);
  for (const err of errors ?? []) {
    let path = [...err.path];
    if (strip.length && strip.every((s, i) => path[i] === s)) path = path.slice(strip.length);
    const field = keys.find((key) => {
      const parts = key.split(".");
      return parts.every((p, i) => path[i] === p);
    });
    if (field) (out.byField[field] ??= []).push(err.message);
    else out.general.push(err.message);
  }
  return out;
}

export const NO_ERRORS: FieldErrors = { byField: {}, general: [] };

/** The messages of a payload, or the transport error, or a fallback: what to show when nothing else does. */
export function problemText(
  payload: { errors: readonly UserError[] } | null | undefined,
  error: { message: string } | null | undefined,
  fallback = "The request failed.",
): string | null {
  if (payload) return payload.errors.length ? payload.errors.map((e) => e.message).join("; ") : null;
  return error?.message ?? fallback;
}
