// A schedule's settings. As the cron expression or timezone is typed (debounced), the expression in words
// (cronstrue) and the next fires from `schedulePreview`, on the wall clock of the chosen timezone.
import { useId, useMemo, useState, type FormEvent } from "react";
import { useQuery } from "urql";
import { SCHEDULE_PREVIEW } from "../api/admin";
import type { UserError } from "../api/types";
import type { ScheduleInput } from "../gql/graphql";
import { NO_ERRORS, fieldErrors, type FieldErrors } from "../lib/fieldErrors";
import {
  CATCH_UP_POLICIES,
  OVERLAP_POLICIES,
  SCHEDULE_FIELDS,
  describeCron,
  formatFire,
  scheduleInput,
  timeZoneNames,
  type ScheduleFormValues,
} from "../lib/schedule";
import { useDebounced } from "../lib/useDebounced";
import { Field, FieldDescription, FieldMessages, GeneralErrors, invalidProps } from "./FieldMessages";
import { Button } from "./ui/button";
import { Card, CardTitle } from "./ui/card";
import { Input } from "./ui/input";
import { Label } from "./ui/label";
import { NativeSelect } from "./ui/native-select";
import { Textarea } from "./ui/textarea";

export const PREVIEW_COUNT = 5;

interface ScheduleFormProps {
  initial: ScheduleFormValues;
  submitLabel: string;
  /** The payload's errors: empty when saved. */
  onSubmit: (input: ScheduleInput) => Promise<readonly UserError[]>;
  onSaved?: () => void;
  onCancel?: () => void;
  /** clear the form after a save (a new schedule) */
  resetOnSave?: boolean;
  debounceMs?: number;
  title: string;
}

export function ScheduleForm({
  initial,
  submitLabel,
  onSubmit,
  onSaved,
  onCancel,
  resetOnSave,
  debounceMs = 300,
  title,
}: ScheduleFormProps) {
  const id = useId();
  const [values, setValues] = useState<ScheduleFormValues>(initial);
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [saving, setSaving] = useState(false);
  const set = <K extends keyof ScheduleFormValues>(key: K, value: ScheduleFormValues[K]) => {
    setValues((v) => ({ ...v, [key]: value }));
    // A save's problem with a field goes once the field changes.
    setErrors((e) => {
      if (!e.byField[key]) return e;
      const byField = { ...e.byField };
      delete byField[key];
      return { ...e, byField };
    });
  };
  const zones = useMemo(timeZoneNames, []);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const built = scheduleInput(values);
    if ("field" in built) {
      setErrors({ byField: { [built.field]: [built.message] }, general: [] });
      return;
    }
    setSaving(true);
    try {
      const problems = await onSubmit(built.input);
      if (problems.length) {
        setErrors(fieldErrors(problems, SCHEDULE_FIELDS, ["input"]));
        return;
      }
      setErrors(NO_ERRORS);
      if (resetOnSave) setValues(initial);
      onSaved?.();
    } finally {
      setSaving(false);
    }
  };

  const err = (f: string) => errors.byField[f];
  const fid = (f: string) => `${id}-${f}`;
  return (
    <Card asChild className="max-w-3xl">
      <form onSubmit={submit} aria-labelledby={fid("title")}>
        <CardTitle asChild>
          <h3 id={fid("title")}>{title}</h3>
        </CardTitle>
        <SchedulePreviewFields
          idPrefix={id}
          cron={values.cron}
          timezone={values.timezone}
          onCron={(v) => set("cron", v)}
          onTimezone={(v) => set("timezone", v)}
          saveErrors={errors}
          zonesListId={fid("zones")}
          debounceMs={debounceMs}
        />
        <datalist id={fid("zones")}>
          {zones.map((z) => (
            <option key={z} value={z} />
          ))}
        </datalist>
        <Field>
          <Label htmlFor={fid("input")}>Run input (JSON, optional)</Label>
          <Textarea
            id={fid("input")}
            rows={3}
            value={values.input}
            onChange={(e) => set("input", e.target.value)}
            placeholder='{"amount": 10}'
            {...invalidProps(`${fid("input")}-errors`, err("input"))}
          />
          <FieldMessages id={`${fid("input")}-errors`} messages={err("input")} />
        </Field>
        <details className="group">
          <summary className="cursor-pointer text-sm font-medium">Overlap, catch-up and jitter</summary>
          <div className="mt-2 flex flex-wrap items-start gap-3">
            <Field>
              <Label htmlFor={fid("overlap")}>While the previous run is active</Label>
              <NativeSelect id={fid("overlap")} value={values.overlap} onChange={(e) => set("overlap", e.target.value)}>
                {OVERLAP_POLICIES.map((p) => (
                  <option key={p.value} value={p.value}>
                    {p.label}
                  </option>
                ))}
              </NativeSelect>
              <FieldMessages id={`${fid("overlap")}-errors`} messages={err("overlap")} />
            </Field>
            <Field>
              <Label htmlFor={fid("catchUp")}>After downtime</Label>
              <NativeSelect id={fid("catchUp")} value={values.catchUp} onChange={(e) => set("catchUp", e.target.value)}>
                {CATCH_UP_POLICIES.map((p) => (
                  <option key={p.value} value={p.value}>
                    {p.label}
                  </option>
                ))}
              </NativeSelect>
              <FieldMessages id={`${fid("catchUp")}-errors`} messages={err("catchUp")} />
            </Field>
            <Field>
              <Label htmlFor={fid("window")}>Catch-up window (seconds, empty: no limit)</Label>
              <Input
                id={fid("window")}
                type="number"
                min={1}
                value={values.catchUpWindowS}
                onChange={(e) => set("catchUpWindowS", e.target.value)}
                {...invalidProps(`${fid("window")}-errors`, err("catchUpWindowS"))}
              />
              <FieldMessages id={`${fid("window")}-errors`} messages={err("catchUpWindowS")} />
            </Field>
            <Field>
              <Label htmlFor={fid("jitter")}>Jitter (seconds, 0 to 3600)</Label>
              <Input
                id={fid("jitter")}
                type="number"
                min={0}
                max={3600}
                value={values.jitterS}
                onChange={(e) => set("jitterS", e.target.value)}
                {...invalidProps(`${fid("jitter")}-errors`, err("jitterS"))}
              />
              <FieldMessages id={`${fid("jitter")}-errors`} messages={err("jitterS")} />
            </Field>
          </div>
        </details>
        <div className="flex items-center gap-2">
          <input
            id={fid("enabled")}
            type="checkbox"
            className="size-4 accent-primary"
            checked={values.enabled}
            onChange={(e) => set("enabled", e.target.checked)}
          />
          <Label htmlFor={fid("enabled")}>Active (unchecked: paused)</Label>
        </div>
        <GeneralErrors messages={errors.general} />
        <div className="flex gap-2">
          <Button type="submit" variant="default" disabled={saving}>
            {submitLabel}
          </Button>
          {onCancel ? <Button onClick={onCancel}>Cancel</Button> : null}
        </div>
      </form>
    </Card>
  );
}

interface PreviewFieldsProps {
  idPrefix: string;
  cron: string;
  timezone: string;
  onCron: (v: string) => void;
  onTimezone: (v: string) => void;
  /** errors of the last save, shown until the field changes */
  saveErrors: FieldErrors;
  zonesListId?: string;
  debounceMs: number;
}

/** The cron and timezone fields with their live description, preview and problems. */
export function SchedulePreviewFields({
  idPrefix,
  cron,
  timezone,
  onCron,
  onTimezone,
  saveErrors,
  zonesListId,
  debounceMs,
}: PreviewFieldsProps) {
  const typed = useMemo(() => ({ cron: cron.trim(), timezone: timezone.trim() }), [cron, timezone]);
  // A cleared field (the form reset after saving) clears the preview at once; typing is debounced.
  const settled = useDebounced(typed, typed.cron ? debounceMs : 0);
  const [{ data, fetching, error }] = useQuery({
    query: SCHEDULE_PREVIEW,
    variables: { cron: settled.cron, timezone: settled.timezone || "UTC", count: PREVIEW_COUNT },
    pause: !settled.cron,
    requestPolicy: "network-only",
  });
  const current = settled.cron === typed.cron && settled.timezone === typed.timezone;
  const preview = settled.cron ? data?.schedulePreview : undefined;
  const previewErrors = fieldErrors(preview?.errors, ["cron", "timezone"]);
  const cronErrors = [...(previewErrors.byField.cron ?? []), ...(saveErrors.byField.cron ?? [])];
  const zoneErrors = [...(previewErrors.byField.timezone ?? []), ...(saveErrors.byField.timezone ?? [])];
  const description = settled.cron && !cronErrors.length ? describeCron(settled.cron) : null;
  const fires = preview?.fires ?? [];
  const zone = settled.timezone || "UTC";
  const fid = (f: string) => `${idPrefix}-${f}`;
  return (
    <>
      <Field>
        <Label htmlFor={fid("cron")}>Cron expression</Label>
        <Input
          id={fid("cron")}
          required
          spellCheck={false}
          className="font-mono"
          value={cron}
          onChange={(e) => onCron(e.target.value)}
          placeholder="0 9 * * 1-5"
          {...invalidProps(`${fid("cron")}-errors`, cronErrors, `${fid("cron")}-hint`)}
        />
        <FieldDescription id={`${fid("cron")}-hint`}>
          minute hour day-of-month month day-of-week (a 6th field is seconds); @hourly, @daily, @weekly…
        </FieldDescription>
        {description?.ok ? (
          <p className="font-semibold" data-testid="cron-description">
            {description.text}
          </p>
        ) : null}
        <FieldMessages id={`${fid("cron")}-errors`} messages={cronErrors} />
      </Field>
      <Field>
        <Label htmlFor={fid("timezone")}>Timezone</Label>
        <Input
          id={fid("timezone")}
          required
          spellCheck={false}
          list={zonesListId}
          value={timezone}
          onChange={(e) => onTimezone(e.target.value)}
          {...invalidProps(`${fid("timezone")}-errors`, zoneErrors)}
        />
        <FieldMessages id={`${fid("timezone")}-errors`} messages={zoneErrors} />
      </Field>
      <section
        className="rounded-md bg-muted/60 px-3 py-2"
        aria-labelledby={fid("preview-title")}
        aria-live="polite"
        aria-busy={!current || fetching}
      >
        <h4 id={fid("preview-title")} className="mb-1 text-sm font-semibold">
          Next {PREVIEW_COUNT} fires ({zone})
        </h4>
        {error ? <p className="text-destructive">Could not preview: {error.message}</p> : null}
        {!settled.cron ? <p className="text-muted-foreground">Type a cron expression to see when it fires.</p> : null}
        {preview && !preview.errors.length && !fires.length ? <p className="text-muted-foreground">It never fires.</p> : null}
        {fires.length ? (
          <ol aria-label="Next fires" className="list-decimal pl-5">
            {fires.map((iso) => (
              <li key={iso}>
                <time dateTime={iso}>{formatFire(iso, zone)}</time>
              </li>
            ))}
          </ol>
        ) : null}
      </section>
    </>
  );
}
