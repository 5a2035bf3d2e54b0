// Schedules: a cron expression in words (cronstrue), fire times in the schedule's timezone, and the
// `ScheduleInput` the form sends. The server (`schedulePreview`) is the judge of what is valid.
import cronstrue from "cronstrue";
import type { ScheduleInput } from "../gql/graphql";

// studio_shared/cron.py ALIASES: cronstrue knows some of them, not all.
const ALIASES: Record<string, string> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

export type CronDescription = { ok: true; text: string } | { ok: false; message: string };

/**
 * "0 9 * * 1-5" -> "At 09:00, Monday through Friday". The studio's 6th field is seconds *last* (croniter's
 * order); cronstrue reads seconds first, so the field moves to the front before it is described.
 */
export function describeCron(expression: string): CronDescription {
  let text = expression.trim().replace(/\s+/g, " ");
  if (!text) return { ok: false, message: "empty" };
  text = ALIASES[text.toLowerCase()] ?? text;
  const parts = text.split(" ");
  if (parts.length === 6) text = [parts[5], ...parts.slice(0, 5)].join(" ");
  try {
    return { ok: true, text: cronstrue.toString(text, { use24HourTimeFormat: true, verbose: false }) };
  } catch (err) {
    return { ok: false, message: String(err instanceof Error ? err.message : err) };
  }
}

/** An instant (ISO 8601) on the wall clock of `timeZone`, e.g. "Mon, Jun 2, 2025, 09:00:00 GMT+2". */
export function formatFire(iso: string, timeZone: string, locale?: string): string {
  const date = new Date(iso);
  const options: Intl.DateTimeFormatOptions = {
    weekday: "short",
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
    timeZoneName: "short",
  };
  try {
    return new Intl.DateTimeFormat(locale, { ...options, timeZone }).format(date);
  } catch {
    return new Intl.DateTimeFormat(locale, { ...options, timeZone: "UTC" }).format(date); // unknown zone
  }
}

/** The browser's zone, as the default of a new schedule. */
export function localTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

/** IANA names to suggest in the timezone field. */
export function timeZoneNames(): string[] {
  const supported = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return Array.from(new Set(["UTC", ...supported]));
}

export const OVERLAP_POLICIES = [
  { value: "skip", label: "Skip the tick" },
  { value: "allow", label: "Allow parallel runs" },
  { value: "buffer_one", label: "Buffer one tick until it finishes" },
  { value: "cancel_previous", label: "Cancel the previous run" },
] as const;

export const CATCH_UP_POLICIES = [
  { value: "skip", label: "Skip missed ticks" },
  { value: "latest", label: "Fire the latest missed tick" },
  { value: "all", label: "Fire every missed tick (within the window)" },
] as const;

/** The form's values, as typed. */
export interface ScheduleFormValues {
  cron: string;
  timezone: string;
  input: string;
  overlap: string;
  catchUp: string;
  catchUpWindowS: string;
  jitterS: string;
  enabled: boolean;
}

export function emptySchedule(timezone: string = localTimeZone()): ScheduleFormValues {
  return { cron: "", timezone, input: "", overlap: "skip", catchUp: "skip", catchUpWindowS: "", jitterS: "0", enabled: true };
}

export function scheduleValues(s: {
  cron: string;
  timezone: string;
  input?: unknown;
  overlap: string;
  catchUp: string;
  catchUpWindowS?: number | null;
  jitterS: number;
  enabled: boolean;
}): ScheduleFormValues {
  return {
    cron: s.cron,
    timezone: s.timezone,
    input: s.input === null || s.input === undefined ? "" : JSON.stringify(s.input, null, 2),
    overlap: s.overlap,
    catchUp: s.catchUp,
    catchUpWindowS: s.catchUpWindowS === null || s.catchUpWindowS === undefined ? "" : String(s.catchUpWindowS),
    jitterS: String(s.jitterS),
    enabled: s.enabled,
  };
}

/** The ScheduleInput of the form, or the field that does not parse (the run input must be JSON). */
export function scheduleInput(v: ScheduleFormValues): { input: ScheduleInput } | { field: string; message: string } {
  let input: unknown = null;
  if (v.input.trim()) {
    try {
      input = JSON.parse(v.input);
    } catch {
      return { field: "input", message: "the run input is not valid JSON" };
    }
  }
  const window = v.catchUpWindowS.trim();
  return {
    input: {
      cron: v.cron.trim(),
      timezone: v.timezone.trim(),
      input,
      overlap: v.overlap,
      catchUp: v.catchUp,
      catchUpWindowS: window ? Number(window) : null,
      jitterS: v.jitterS.trim() ? Number(v.jitterS) : 0,
      enabled: v.enabled,
    },
  };
}

/** The field keys of schedule errors (after the `input` prefix of a mutation is stripped). */
export const SCHEDULE_FIELDS = ["cron", "timezone", "input", "overlap", "catchUp", "catchUpWindowS", "jitterS"];
