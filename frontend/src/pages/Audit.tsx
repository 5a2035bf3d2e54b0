// The audit log (ADMIN, audit:read): who did what to which resource, newest first. Filters by actor, action,
// resource type and time range; "Load more" pages on with the cursor; an export downloads the range as CSV or
// JSON Lines (GET /audit/export with the session's token).
import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { useClient } from "urql";
import { AUDIT_LOG } from "../api/admin";
import { useCan, useSession } from "../auth";
import { EmptyState, Page, PageHeader } from "../components/Page";
import { Alert } from "../components/ui/alert";
import { Button } from "../components/ui/button";
import { Input } from "../components/ui/input";
import { Label } from "../components/ui/label";
import { NativeSelect } from "../components/ui/native-select";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../components/ui/table";

export const AUDIT_PAGE_SIZE = 50;

export interface AuditRow {
  id: string;
  actor?: string | null;
  action: string;
  targetKind?: string | null;
  targetId?: string | null;
  data?: unknown;
  at: string;
}

export interface AuditFilterForm {
  actor: string;
  action: string;
  resourceType: string;
  since: string; // a datetime-local value (the browser's time zone), or ""
  until: string;
}

const EMPTY: AuditFilterForm = { actor: "", action: "", resourceType: "", since: "", until: "" };

/** A datetime-local value as an ISO time with its zone (the API refuses times without one). */
export function toInstant(local: string): string | null {
  if (!local) return null;
  const when = new Date(local);
  return Number.isNaN(when.getTime()) ? null : when.toISOString();
}

/** The form as auditLog's filter: blank fields are left out. */
export function toAuditFilter(form: AuditFilterForm) {
  const filter: Record<string, string> = {};
  if (form.actor.trim()) filter.actor = form.actor.trim();
  if (form.action.trim()) filter.action = form.action.trim();
  if (form.resourceType.trim()) filter.resourceType = form.resourceType.trim();
  const since = toInstant(form.since);
  const until = toInstant(form.until);
  if (since) filter.since = since;
  if (until) filter.until = until;
  return filter;
}

/** The export's URL for the form's range (and filters), or null while the range is incomplete. */
export function exportUrl(form: AuditFilterForm, format: "csv" | "jsonl"): string | null {
  const filter = toAuditFilter(form);
  if (!filter.since || !filter.until) return null;
  const params = new URLSearchParams({ since: filter.since, until: filter.until, format });
  for (const key of ["actor", "action", "resourceType"] as const) if (filter[key]) params.set(key, filter[key]);
  return `/audit/export?${params.toString()}`;
}

function describe(data: unknown): string {
  if (data == null) return "";
  return typeof data === "string" ? data : JSON.stringify(data);
}

export function AuditPage() {
  const allowed = useCan("auditLog");
  const client = useClient();
  const { token } = useSession();
  const [form, setForm] = useState<AuditFilterForm>(EMPTY);
  const [applied, setApplied] = useState<Record<string, string>>({});
  const [rows, setRows] = useState<AuditRow[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [format, setFormat] = useState<"csv" | "jsonl">("csv");
  const [exportError, setExportError] = useState<string | null>(null);
  const [exporting, setExporting] = useState(false);

  // Each read is numbered: an answer for filters since replaced (or a page since superseded) is dropped.
  const generation = useRef(0);
  const load = useCallback(
    async (filter: Record<string, string>, after: string | null) => {
      const mine = ++generation.current;
      setLoading(true);
      setError(null);
      const res = await client
        .query(AUDIT_LOG, { filter, first: AUDIT_PAGE_SIZE, after }, { requestPolicy: "network-only" })
        .toPromise();
      if (mine !== generation.current) return;
      setLoading(false);
      const page = res.data?.auditLog;
      if (res.error || !page) {
        setError(res.error?.graphQLErrors[0]?.message ?? res.error?.message ?? "The audit log could not be read.");
        return;
      }
      setRows((before) => (after ? [...before, ...page.nodes] : page.nodes));
      setCursor(page.pageInfo.hasNextPage ? (page.pageInfo.endCursor ?? null) : null);
      setLoaded(true);
    },
    [client],
  );

  useEffect(() => {
    if (allowed) void load(applied, null);
  }, [allowed, applied, load]);

  if (!allowed) return <Page>Your role may not read the audit log.</Page>;

  const field = (key: keyof AuditFilterForm) => ({
    id: `audit-${key}`,
    value: form[key],
    onChange: (e: { target: { value: string } }) => setForm((f) => ({ ...f, [key]: e.target.value })),
  });
  const apply = (e: FormEvent) => {
    e.preventDefault();
    setApplied(toAuditFilter(form));
  };
  const url = exportUrl(form, format);

  async function download() {
    if (!url) return;
    setExporting(true);
    setExportError(null);
    try {
      const res = await fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
      if (!res.ok) {
        const body = (await res.json().catch(() => null)) as { message?: string } | null;
        setExportError(body?.message ?? `The export failed (HTTP ${res.status}).`);
        return;
      }
      const blob = await res.blob();
      const name = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") ?? "")?.[1] ?? `audit.${format}`;
      const href = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = href;
      a.download = name;
      a.click();
      URL.revokeObjectURL(href);
    } catch {
      setExportError("The export could not be downloaded: check the connection and try again.");
    } finally {
      setExporting(false);
    }
  }

  return (
    <Page>
      <PageHeader title="Audit log" description="Who changed what in this workspace, newest first." />
      <form aria-label="Audit filters" className="grid gap-3 sm:grid-cols-3 lg:grid-cols-6" onSubmit={apply}>
        <div className="grid gap-1">
          <Label htmlFor="audit-actor">Actor</Label>
          <Input placeholder="user:…" {...field("actor")} />
        </div>
        <div className="grid gap-1">
          <Label htmlFor="audit-action">Action</Label>
          <Input placeholder="workflow.publish" {...field("action")} />
        </div>
        <div className="grid gap-1">
          <Label htmlFor="audit-resourceType">Resource type</Label>
          <Input placeholder="workflow" {...field("resourceType")} />
        </div>
        <div className="grid gap-1">
          <Label htmlFor="audit-since">From</Label>
          <Input type="datetime-local" {...field("since")} />
        </div>
        <div className="grid gap-1">
          <Label htmlFor="audit-until">Until</Label>
          <Input type="datetime-local" {...field("until")} />
        </div>
        <div className="flex items-end gap-2">
          <Button type="submit">Apply</Button>
          <Button
            type="button"
            variant="outline"
            onClick={() => {
              setForm(EMPTY);
              setApplied({});
            }}
          >
            Clear
          </Button>
        </div>
      </form>
      <div className="flex flex-wrap items-center gap-2">
        <Label htmlFor="audit-format">Export</Label>
        <NativeSelect id="audit-format" className="w-40" value={format} onChange={(e) => setFormat(e.target.value as "csv" | "jsonl")}>
          <option value="csv">CSV</option>
          <option value="jsonl">JSON Lines</option>
        </NativeSelect>
        <Button type="button" variant="outline" disabled={!url || exporting} onClick={() => void download()}>
          {exporting ? "Exporting…" : "Download export"}
        </Button>
        {!url ? <span className="text-sm text-muted-foreground">Set both ends of the time range to export it.</span> : null}
      </div>
      {exportError ? <Alert variant="destructive">{exportError}</Alert> : null}
      {error ? <Alert variant="destructive">{error}</Alert> : null}
      {loaded && rows.length === 0 && !error ? (
        <EmptyState title="No entries">Nothing recorded matches these filters.</EmptyState>
      ) : null}
      {rows.length > 0 ? (
        <Table aria-label="Audit entries">
          <TableHeader>
            <TableRow>
              <TableHead>When</TableHead>
              <TableHead>Actor</TableHead>
              <TableHead>Action</TableHead>
              <TableHead>Resource</TableHead>
              <TableHead>Details</TableHead>
            </TableRow>
          </TableHeader>
          <TableBody>
            {rows.map((row) => (
              <TableRow key={row.id} data-testid="audit-row">
                <TableCell className="whitespace-nowrap">
                  <time dateTime={row.at}>{new Date(row.at).toLocaleString()}</time>
                </TableCell>
                <TableCell className="font-mono text-xs">{row.actor ?? "—"}</TableCell>
                <TableCell>{row.action}</TableCell>
                <TableCell className="font-mono text-xs">{row.targetKind ? `${row.targetKind} ${row.targetId ?? ""}` : "—"}</TableCell>
                <TableCell className="max-w-72 truncate font-mono text-xs" title={describe(row.data)}>
                  {describe(row.data)}
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      ) : null}
      {loading ? <span role="status">Loading entries…</span> : null}
      {cursor && !loading ? (
        <Button type="button" variant="outline" className="self-start" onClick={() => void load(applied, cursor)}>
          Load more
        </Button>
      ) : null}
    </Page>
  );
}
