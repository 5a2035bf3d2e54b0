// The Runs page: the tenant's runs (/runs) or one workflow's (/workflows/:id/runs), newest first, under filters the
// address holds (lib/runFilters.ts), so a view is shared by its link. The server pages by (created_at, id): "Show
// more" asks for the page after the last row, as fast at the 100,000th run as at the first.
import { useCallback, useEffect, useId, useMemo, useState } from "react";
import { Link, useLocation, useNavigate, useParams } from "react-router-dom";
import { useClient, useMutation, useQuery } from "urql";
import { pipe, subscribe } from "wonka";
import { RUNS_PAGE, RUN_UPDATES, TEST_REPLAY, WORKFLOWS, WORKFLOW_NAME } from "../api/operations";
import type { RunRow } from "../api/types";
import { useCan, useViewer } from "../auth";
import { StatusBadge, TestBadge } from "../components/StatusBadge";
import { Alert } from "../components/ui/alert";
import { Button } from "../components/ui/button";
import { Input } from "../components/ui/input";
import { Label } from "../components/ui/label";
import { NativeSelect } from "../components/ui/native-select";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../components/ui/table";
import {
  RANGES,
  RANGE_LABELS,
  STATUS_CHOICES,
  STATUS_LABELS,
  TRIGGER_KINDS,
  TRIGGER_LABELS,
  isFiltered,
  parseRunFilters,
  serializeRunFilters,
  toRunFilter,
  type RangeChoice,
  type RunFilters,
  type RunMode,
  type StatusChoice,
  type TriggerKind,
} from "../lib/runFilters";
import { elapsed, formatDuration, formatWhen, useNow } from "../lib/time";

/** Rows per page. */
export const RUNS_PAGE_SIZE = 50;
/** After a run changes, the first page is read again this much later (a burst of changes costs one read). */
export const LIVE_DEBOUNCE_MS = 1000;

/**
 * Calls `onChange` (at most once per LIVE_DEBOUNCE_MS) while `live`, whenever a run of the tenant (or of the workflow)
 * starts or changes status: `runUpdates`, one subscription. A dropped subscription is not followed again here: the
 * page still has Refresh, and the next visit subscribes anew.
 */
function useRunUpdates(workflowId: string | null, live: boolean, onChange: () => void) {
  const client = useClient();
  useEffect(() => {
    if (!live) return;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const { unsubscribe } = pipe(
      client.subscription(RUN_UPDATES, { workflowId }),
      subscribe((result) => {
        if (!result.data?.runUpdates || timer) return;
        timer = setTimeout(() => {
          timer = null;
          onChange();
        }, LIVE_DEBOUNCE_MS);
      }),
    );
    return () => {
      if (timer) clearTimeout(timer);
      unsubscribe();
    };
  }, [client, workflowId, live, onChange]);
}

export function RunsPage() {
  const { id: pathWorkflow = null } = useParams();
  const location = useLocation();
  const navigate = useNavigate();
  const filters = useMemo(() => parseRunFilters(location.search, pathWorkflow), [location.search, pathWorkflow]);
  const query = serializeRunFilters(filters, pathWorkflow);
  const setFilters = useCallback(
    (next: RunFilters) => {
      const search = serializeRunFilters(next, pathWorkflow);
      navigate({ pathname: location.pathname, search: search ? `?${search}` : "" }, { replace: true });
    },
    [navigate, location.pathname, pathWorkflow],
  );
  // The list as shown: its filters, the moment a relative range counts back from, and the pages asked for so far.
  // Other filters (or Refresh) start again at the first page, now (state adjusted while rendering, not in an effect:
  // no render with stale pages, no second request).
  const [view, setView] = useState(() => ({ query, asOf: Date.now(), pages: [null] as (string | null)[], refresh: 0 }));
  if (view.query !== query) setView({ query, asOf: Date.now(), pages: [null], refresh: view.refresh });
  const refresh = () => setView((v) => ({ ...v, asOf: Date.now(), pages: [null], refresh: v.refresh + 1 }));
  const variables = useMemo(() => toRunFilter(filters, view.asOf), [filters, view.asOf]);
  const [next, setNext] = useState<string | null>(null);
  // Live while one page is shown: new runs come in at its top and statuses change in place. With more pages shown,
  // reading the first one again would push rows out of it that the second one starts after: Refresh reads them all.
  const [tick, setTick] = useState(0);
  const bump = useCallback(() => setTick((t) => t + 1), []);
  useRunUpdates(filters.workflow, view.pages.length === 1, bump);
  const [names] = useQuery({ query: WORKFLOW_NAME, variables: { id: pathWorkflow ?? "" }, pause: !pathWorkflow });
  const workflowName = names.data?.workflow?.name;
  const [starters, setStarters] = useState<Record<string, string>>({});
  const learn = useCallback((rows: readonly RunRow[]) => {
    setStarters((known) => {
      const fresh = rows.filter((r) => r.startedBy && known[r.startedBy.id] !== r.startedBy.email);
      if (!fresh.length) return known;
      return { ...known, ...Object.fromEntries(fresh.map((r) => [r.startedBy!.id, r.startedBy!.email])) };
    });
  }, []);
  const [empty, setEmpty] = useState<boolean | null>(null);

  return (
    <main className="flex flex-col gap-4 px-6 py-5">
      <div className="flex flex-wrap items-baseline gap-x-4 gap-y-1">
        <h1 className="min-w-0 truncate">{pathWorkflow ? `Runs of ${workflowName ?? "the workflow"}` : "Runs"}</h1>
        {pathWorkflow ? (
          <p className="text-muted-foreground">
            <Link to={`/workflows/${pathWorkflow}`}>Open the builder</Link> · <Link to={`/workflows/${pathWorkflow}/triggers`}>Triggers</Link> ·{" "}
            <Link to={`/runs${query ? `?${query}` : ""}`}>All workflows' runs</Link>
          </p>
        ) : null}
      </div>
      <RunFiltersBar
        filters={filters}
        onChange={setFilters}
        pathWorkflow={pathWorkflow}
        starters={starters}
        onRefresh={refresh}
        live={view.pages.length === 1}
      />
      {empty ? (
        <div className="rounded-lg border bg-card px-4 py-6 text-center" role="status">
          {isFiltered(filters, pathWorkflow) ? (
            <p>
              No run matches these filters.{" "}
              <Button size="xs" onClick={() => setFilters(parseRunFilters("", pathWorkflow))}>
                Clear the filters
              </Button>
            </p>
          ) : (
            <p>No runs yet: start one from a workflow's builder, a webhook or a schedule.</p>
          )}
        </div>
      ) : null}
      <div className={empty ? "hidden" : undefined}>
      <Table aria-label="Runs">
        <TableHeader>
          <TableRow>
            <TableHead>Run</TableHead>
            {pathWorkflow ? null : <TableHead>Workflow</TableHead>}
            <TableHead>Version</TableHead>
            <TableHead>Trigger</TableHead>
            <TableHead>Started by</TableHead>
            <TableHead>Created</TableHead>
            <TableHead>Duration</TableHead>
          </TableRow>
        </TableHeader>
        <TableBody>
          {view.pages.map((after, i) => (
            <RunsPageRows
              key={`${view.query}|${view.refresh}|${after ?? ""}`}
              filter={variables}
              after={after}
              showWorkflow={!pathWorkflow}
              refresh={view.refresh}
              tick={i === 0 ? tick : 0}
              onEnd={i === view.pages.length - 1 ? setNext : undefined}
              onRows={learn}
              onEmpty={i === 0 ? setEmpty : undefined}
              onStarter={(starter) => setFilters({ ...filters, startedBy: starter })}
            />
          ))}
        </TableBody>
      </Table>
      </div>
      {next ? (
        <Button className="w-fit" onClick={() => setView((v) => ({ ...v, pages: [...v.pages, next] }))}>
          Show {RUNS_PAGE_SIZE} more
        </Button>
      ) : null}
    </main>
  );
}

function RunsPageRows({
  filter,
  after,
  showWorkflow,
  refresh,
  tick,
  onEnd,
  onRows,
  onEmpty,
  onStarter,
}: {
  filter: ReturnType<typeof toRunFilter>;
  after: string | null;
  showWorkflow: boolean;
  /** Bumped by Refresh: the page is read from the server again. */
  refresh: number;
  /** Bumped when a run changed (the first page, while it is the only one): read it again, quietly. */
  tick: number;
  onEnd?: (cursor: string | null) => void;
  onRows: (rows: readonly RunRow[]) => void;
  onEmpty?: (empty: boolean | null) => void;
  onStarter: (userId: string) => void;
}) {
  const canTest = useCan("testDraft");
  const [{ data, error, fetching }, refetch] = useQuery({
    query: RUNS_PAGE,
    variables: { filter, first: RUNS_PAGE_SIZE, after },
    requestPolicy: refresh ? "network-only" : "cache-and-network",
  });
  useEffect(() => {
    if (tick) refetch({ requestPolicy: "network-only" });
  }, [tick, refetch]);
  const page = data?.runs;
  useEffect(() => {
    if (!page) return;
    onEnd?.(page.pageInfo.hasNextPage ? (page.pageInfo.endCursor ?? null) : null);
    onRows(page.nodes);
    onEmpty?.(page.nodes.length === 0);
  }, [page, onEnd, onRows, onEmpty]);
  const live = !!page?.nodes.some((r) => !r.finishedAt);
  const now = useNow(live);
  const columns = showWorkflow ? 7 : 6;
  if (error)
    return (
      <TableRow>
        <TableCell colSpan={columns}>
          <Alert variant="destructive">{error.message}</Alert>
        </TableCell>
      </TableRow>
    );
  if (!page)
    return (
      <TableRow>
        <TableCell colSpan={columns} className="text-muted-foreground">
          <span role="status">{fetching ? "Loading runs…" : ""}</span>
        </TableCell>
      </TableRow>
    );
  return (
    <>
      {page.nodes.map((run) => {
        const took = elapsed(run.startedAt, run.finishedAt, now);
        return (
          <TableRow key={run.id} data-testid="run-row">
            <TableCell>
              <span className="flex items-center gap-2">
                <StatusBadge status={run.status} />
                {run.test ? <TestBadge /> : null}
                <Link to={`/runs/${run.id}`} className="font-mono text-xs" aria-label={`Run ${run.id.slice(0, 8)} of ${run.workflow.name}`}>
                  {run.id.slice(0, 8)}
                </Link>
              </span>
            </TableCell>
            {showWorkflow ? (
              <TableCell className="max-w-64 truncate">
                <Link to={`/workflows/${run.workflow.id}/runs`} title={run.workflow.name}>
                  {run.workflow.name}
                </Link>
              </TableCell>
            ) : null}
            <TableCell>{run.test ? "draft" : `v${run.version}`}</TableCell>
            <TableCell>
              {TRIGGER_LABELS[run.trigger as TriggerKind] ?? run.trigger}
              {canTest && !run.parent ? <ReplayOnDraft runId={run.id} /> : null}
              {run.parent ? (
                <div className="text-xs text-muted-foreground">
                  of <Link to={`/runs/${run.parent.id}`}>run {run.parent.id.slice(0, 8)}</Link>
                  {run.parentStepId ? ` · ${run.parentStepId}` : ""}
                  {run.itemIndex != null ? ` #${run.itemIndex}` : ""}
                </div>
              ) : null}
            </TableCell>
            <TableCell className="max-w-56 truncate">
              {run.startedBy ? (
                <button
                  type="button"
                  className="cursor-pointer text-left text-primary underline-offset-2 hover:underline"
                  title={`Only runs started for ${run.startedBy.email}`}
                  aria-label={`Only runs started for ${run.startedBy.email}`}
                  onClick={() => onStarter(run.startedBy!.id)}
                >
                  {run.startedBy.email}
                </button>
              ) : (
                <span className="text-muted-foreground">—</span>
              )}
              {run.startedVia !== "user" && run.startedVia !== "run" ? (
                <div className="text-xs text-muted-foreground">via {run.startedVia === "apikey" ? "an API key" : run.startedVia}</div>
              ) : null}
            </TableCell>
            <TableCell className="whitespace-nowrap">
              <time dateTime={run.createdAt}>{formatWhen(run.createdAt)}</time>
            </TableCell>
            <TableCell className="whitespace-nowrap tabular-nums">
              {took === null ? <span className="text-muted-foreground">not started</span> : formatDuration(took)}
            </TableCell>
          </TableRow>
        );
      })}
    </>
  );
}

/** datetime-local's value for an ISO time, in the viewer's timezone ("2026-12-07T09:30"). */
function toLocalInput(iso: string | null): string {
  if (!iso) return "";
  const at = new Date(iso);
  const offset = at.getTimezoneOffset() * 60_000;
  return new Date(at.getTime() - offset).toISOString().slice(0, 16);
}

function fromLocalInput(value: string): string | null {
  if (!value) return null;
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? null : at.toISOString();
}

function RunFiltersBar({
  filters,
  onChange,
  pathWorkflow,
  starters,
  onRefresh,
  live,
}: {
  filters: RunFilters;
  onChange: (next: RunFilters) => void;
  pathWorkflow: string | null;
  starters: Record<string, string>;
  onRefresh: () => void;
  /** Whether the list follows changes as they happen (one page shown). */
  live: boolean;
}) {
  const id = useId();
  const viewer = useViewer();
  const me = viewer.user;
  const [{ data: workflows }] = useQuery({ query: WORKFLOWS, variables: { search: null }, pause: !!pathWorkflow });
  const [custom, setCustom] = useState(() => !!(filters.from || filters.to));
  const set = (change: Partial<RunFilters>) => onChange({ ...filters, ...change });
  const rangeValue = filters.range ?? (custom || filters.from || filters.to ? "custom" : "");
  const otherStarter = filters.startedBy && filters.startedBy !== me?.id ? filters.startedBy : null;
  const listedWorkflows = workflows?.workflows.nodes ?? [];
  return (
    <form className="flex flex-wrap items-end gap-x-4 gap-y-3 rounded-lg border bg-card p-3" aria-label="Filter runs" onSubmit={(e) => e.preventDefault()}>
      {pathWorkflow ? null : (
        <div className="grid gap-1">
          <Label htmlFor={`${id}-workflow`}>Workflow</Label>
          <NativeSelect id={`${id}-workflow`} className="max-w-56" value={filters.workflow ?? ""} onChange={(e) => set({ workflow: e.target.value || null })}>
            <option value="">Every workflow</option>
            {listedWorkflows.map((w) => (
              <option key={w.id} value={w.id}>
                {w.name}
              </option>
            ))}
            {filters.workflow && !listedWorkflows.some((w) => w.id === filters.workflow) ? <option value={filters.workflow}>The workflow in the link</option> : null}
          </NativeSelect>
        </div>
      )}
      <div className="grid gap-1">
        <Label htmlFor={`${id}-mode`}>Test or live</Label>
        <NativeSelect id={`${id}-mode`} value={filters.mode ?? ""} onChange={(e) => set({ mode: (e.target.value || null) as RunMode | null })}>
          <option value="">All runs</option>
          <option value="live">Live runs</option>
          <option value="test">Test runs of drafts</option>
        </NativeSelect>
      </div>
      <div className="grid gap-1">
        <Label htmlFor={`${id}-status`}>Status</Label>
        <NativeSelect id={`${id}-status`} value={filters.status ?? ""} onChange={(e) => set({ status: (e.target.value || null) as StatusChoice | null })}>
          <option value="">Any status</option>
          {STATUS_CHOICES.map((s) => (
            <option key={s} value={s}>
              {STATUS_LABELS[s]}
            </option>
          ))}
        </NativeSelect>
      </div>
      <div className="grid gap-1">
        <Label htmlFor={`${id}-trigger`}>Trigger</Label>
        <NativeSelect id={`${id}-trigger`} value={filters.trigger ?? ""} onChange={(e) => set({ trigger: (e.target.value || null) as TriggerKind | null })}>
          <option value="">Any trigger</option>
          {TRIGGER_KINDS.map((t) => (
            <option key={t} value={t}>
              {TRIGGER_LABELS[t]}
            </option>
          ))}
        </NativeSelect>
      </div>
      <div className="grid gap-1">
        <Label htmlFor={`${id}-starter`}>Started by</Label>
        <NativeSelect id={`${id}-starter`} className="max-w-56" value={filters.startedBy ?? ""} onChange={(e) => set({ startedBy: e.target.value || null })}>
          <option value="">Anyone</option>
          {me ? <option value={me.id}>Me ({me.email})</option> : null}
          {otherStarter ? <option value={otherStarter}>{starters[otherStarter] ?? `User ${otherStarter.slice(0, 8)}`}</option> : null}
        </NativeSelect>
      </div>
      <div className="grid gap-1">
        <Label htmlFor={`${id}-range`}>Created</Label>
        <NativeSelect
          id={`${id}-range`}
          value={rangeValue}
          onChange={(e) => {
            const value = e.target.value;
            setCustom(value === "custom");
            if (value === "custom") set({ range: null });
            else set({ range: (value || null) as RangeChoice | null, from: null, to: null });
          }}
        >
          <option value="">Any time</option>
          {(Object.keys(RANGES) as RangeChoice[]).map((r) => (
            <option key={r} value={r}>
              {RANGE_LABELS[r]}
            </option>
          ))}
          <option value="custom">Between…</option>
        </NativeSelect>
      </div>
      {rangeValue === "custom" ? (
        <>
          <div className="grid gap-1">
            <Label htmlFor={`${id}-from`}>From</Label>
            <Input id={`${id}-from`} type="datetime-local" className="w-52" value={toLocalInput(filters.from)} onChange={(e) => set({ from: fromLocalInput(e.target.value) })} />
          </div>
          <div className="grid gap-1">
            <Label htmlFor={`${id}-to`}>Until</Label>
            <Input id={`${id}-to`} type="datetime-local" className="w-52" value={toLocalInput(filters.to)} onChange={(e) => set({ to: fromLocalInput(e.target.value) })} />
          </div>
        </>
      ) : null}
      <label className="flex h-8 items-center gap-2 text-sm font-medium" htmlFor={`${id}-children`}>
        <input
          id={`${id}-children`}
          type="checkbox"
          className="size-4 accent-primary"
          checked={filters.children || filters.trigger === "parent"}
          disabled={filters.trigger === "parent"}
          onChange={(e) => set({ children: e.target.checked })}
        />
        Include child runs
      </label>
      <div className="ml-auto flex items-center gap-2">
        <span className="text-xs text-muted-foreground" data-testid="runs-live">
          {live ? "Updates live" : "Several pages shown: Refresh to update"}
        </span>
        {isFiltered(filters, pathWorkflow) ? (
          <Button onClick={() => onChange(parseRunFilters("", pathWorkflow))}>Clear filters</Button>
        ) : null}
        <Button onClick={onRefresh}>Refresh</Button>
      </div>
    </form>
  );
}

/** A run's trigger payload (its input, webhook delivery, message or schedule fire) replayed against the current draft
 * of its workflow as a test run; the new run opens. */
function ReplayOnDraft({ runId }: { runId: string }) {
  const navigate = useNavigate();
  const [, testReplay] = useMutation(TEST_REPLAY);
  const [problem, setProblem] = useState<string | null>(null);
  return (
    <div className="text-xs">
      <button
        type="button"
        className="cursor-pointer text-primary underline-offset-2 hover:underline"
        aria-label={`Replay on the draft: run ${runId.slice(0, 8)}`}
        title="Run this run's trigger payload against the current draft, as a test run"
        onClick={async () => {
          const res = await testReplay({ runId });
          const run = res.data?.testReplay.run;
          if (run) navigate(`/runs/${run.id}`);
          else setProblem(res.data?.testReplay.errors[0]?.message ?? res.error?.message ?? "Not replayed.");
        }}
      >
        Replay on the draft
      </button>
      {problem ? (
        <span role="alert" className="block text-destructive">
          {problem}
        </span>
      ) : null}
    </div>
  );
}
