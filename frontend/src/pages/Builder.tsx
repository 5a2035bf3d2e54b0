// The visual builder: palette, React Flow canvas, inspector; validate as you edit, save, publish, start runs.
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  addEdge,
  useEdgesState,
  useNodesState,
  useReactFlow,
  type Connection,
  type NodeChange,
} from "@xyflow/react";
import { useCallback, useEffect, useMemo, useRef, useState, type DragEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { useClient, useMutation, useQuery } from "urql";
import { NODE_TYPES, PUBLISH, START_RUN, UPDATE_WORKFLOW, VALIDATE, WORKFLOW, WORKFLOW_RUNS } from "../api/operations";
import type { NodeTypeInfo, UserError, WorkflowDetail } from "../api/types";
import { useCan } from "../auth";
import { CompareVersions } from "../components/CompareVersions";
import { EdgeEditor } from "../components/EdgeEditor";
import { Inspector, ProblemList } from "../components/Inspector";
import { DRAG_MIME, Palette } from "../components/Palette";
import { SchemaForm, preloadSchemaForm } from "../components/LazySchemaForm";
import { StatusBadge } from "../components/StatusBadge";
import { nodeTypes } from "../components/StepNodeView";
import { Button } from "../components/ui/button";
import { Dialog, DialogContent, DialogFooter, DialogTitle } from "../components/ui/dialog";
import { Input } from "../components/ui/input";
import { Label } from "../components/ui/label";
import { PageProblem, SIDE_PANEL, Toolbar, ToolbarTitle, Workspace } from "../components/Workspace";
import { copyNodes, pasteClip, PASTE_OFFSET, type Clip } from "../lib/clipboard";
import {
  definitionToGraph,
  edgeId,
  graphToDefinition,
  newNodeId,
  renameNode,
  type Definition,
  type StepEdge,
  type StepNode,
} from "../lib/definition";
import { mapUserErrors, type MappedErrors } from "../lib/errors";
import {
  canRedo,
  canUndo,
  classifyEdit,
  createHistory,
  hashString,
  HISTORY_CAP,
  nudgeGroup,
  record,
  redo,
  undo,
  type History,
} from "../lib/history";
import { asObject } from "../lib/json";
import { FIT_VIEW, LARGE_GRAPH, layoutGraph } from "../lib/layout";
import { typeInfo } from "../lib/nodeTypes";
import { commandFor, isTextTarget, type BuilderCommand } from "../lib/shortcuts";
import { templateSuggestions } from "../lib/templatePaths";


/** One undo step: the definition and a hash of its JSON (the builder's `fullKey`). */
interface Snapshot {
  def: Definition;
  key: string;
}
const sameSnapshot = (a: Snapshot, b: Snapshot) => a.key === b.key;

/** The `default` of each property of a config schema. */
function schemaDefaults(schema: unknown): Record<string, unknown> {
  const props = asObject(asObject(schema)?.properties) ?? {};
  return Object.fromEntries(
    Object.entries(props).flatMap(([k, p]) => {
      const prop = asObject(p);
      return prop && "default" in prop ? [[k, prop.default]] : [];
    }),
  );
}

const IS_MAC = typeof navigator !== "undefined" && /Mac|iP(hone|ad|od)/.test(navigator.platform);
const MOD = IS_MAC ? "⌘" : "Ctrl+";

/** The definition without positions: what validation depends on. */
function semanticKey(def: Definition): string {
  return JSON.stringify({ ...def, nodes: def.nodes.map(({ position: _p, ...n }) => n) });
}

export function BuilderPage() {
  const { id = "" } = useParams();
  const [wf] = useQuery({ query: WORKFLOW, variables: { id }, requestPolicy: "network-only" });
  const [nt] = useQuery({ query: NODE_TYPES, requestPolicy: "cache-first" });
  if (wf.error || nt.error) return <PageProblem>{(wf.error ?? nt.error)?.message}</PageProblem>;
  if (!wf.data || !nt.data) return <p className="px-6 py-4" role="status">Loading the workflow…</p>;
  if (!wf.data.workflow) return <PageProblem>This workflow does not exist.</PageProblem>;
  return (
    <ReactFlowProvider>
      <Builder key={wf.data.workflow.id} workflow={wf.data.workflow} types={nt.data.nodeTypes} />
    </ReactFlowProvider>
  );
}

function Builder({ workflow, types }: { workflow: WorkflowDetail; types: NodeTypeInfo[] }) {
  const client = useClient();
  const navigate = useNavigate();
  const flow = useReactFlow<StepNode, StepEdge>();
  const canEdit = useCan("editGraph");
  const canPublish = useCan("publish");
  const canStart = useCan("startRun");
  const info = useMemo(() => typeInfo(types), [types]);
  const byType = useMemo(() => new Map(types.map((t) => [t.type, t])), [types]);
  const defaultsOf = useMemo(() => {
    const defaults = new Map(types.map((t) => [t.type, schemaDefaults(t.configSchema)]));
    return (type: string) => defaults.get(type) ?? {};
  }, [types]);

  const initial = useMemo(() => {
    const g = definitionToGraph(workflow.draft as Definition, info);
    return g.needsLayout ? { ...g, nodes: layoutGraph(g.nodes, g.edges) } : g;
  }, [workflow, info]);
  const [nodes, setNodes, onNodesChange] = useNodesState<StepNode>(initial.nodes);
  const [edges, setEdges, onEdgesChange] = useEdgesState<StepEdge>(initial.edges);
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [revision, setRevision] = useState(workflow.revision);
  const [latestVersion, setLatestVersion] = useState(workflow.latestVersion?.version ?? null);
  const [mapped, setMapped] = useState<MappedErrors>({ byNode: {}, byEdge: {}, general: [] });
  const [validated, setValidated] = useState(false);
  const [message, setMessage] = useState<{ kind: "ok" | "error"; text: string } | null>(null);
  const [note, setNote] = useState("");
  const [runForm, setRunForm] = useState<Record<string, unknown> | null>(null);

  const definition = useMemo(() => graphToDefinition(nodes, edges), [nodes, edges]);
  const fullKey = useMemo(() => JSON.stringify(definition), [definition]);
  const validationKey = useMemo(() => semanticKey(definition), [definition]);
  const [savedKey, setSavedKey] = useState(fullKey);
  const dirty = fullKey !== savedKey;
  const [comparing, setComparing] = useState(false);

  // Undo/redo: every change of the definition is one history entry, except that a node drag is recorded once
  // it stops, a burst of edits to one inspector field coalesces into one entry, and defaults the inspector's
  // form fills in by itself are no entry of their own (see classifyEdit).
  const historyKey = useMemo(() => hashString(fullKey), [fullKey]);
  const [history, setHistory] = useState<History<Snapshot>>(() =>
    createHistory({ def: definition, key: historyKey }, nodes.length > LARGE_GRAPH ? 25 : HISTORY_CAP),
  );
  const historyRef = useRef(history);
  historyRef.current = history;
  const dragging = useRef(false);
  const [dragsEnded, setDragsEnded] = useState(0);
  // The last change moved the selection with the arrow keys (React Flow's keyboard move, not a drag).
  const nudged = useRef(false);

  const showProblems = useCallback(
    (errors: readonly UserError[], def: Definition) => {
      const m = mapUserErrors(errors, def);
      setMapped(m);
      setNodes((ns) =>
        ns.map((n) => {
          const problems = m.byNode[n.id] ?? [];
          if (!problems.length && !n.data.problems.length) return n;
          return { ...n, data: { ...n.data, problems } };
        }),
      );
      return m;
    },
    [setNodes],
  );

  const definitionRef = useRef(definition);
  definitionRef.current = definition;

  // Record each new definition in the history (a drag once it ends).
  useEffect(() => {
    if (dragging.current) return;
    const snapshot = { def: definitionRef.current, key: historyKey };
    const nudge = nudged.current;
    nudged.current = false;
    setHistory((h) => {
      if (h.present.key === snapshot.key) return h;
      const group = nudge ? nudgeGroup(h.present.def, snapshot.def) : null;
      const kind = group ? { group, replace: false } : classifyEdit(h.present.def, snapshot.def, defaultsOf);
      return record(h, snapshot, { ...kind, equals: sameSnapshot });
    });
  }, [historyKey, dragsEnded, defaultsOf]);

  // Validate as the user edits (not on every drag frame: positions are not part of the key), debounced while typing;
  // the workflow as opened is validated at once.
  const validatedOnce = useRef(false);
  useEffect(() => {
    const def = definitionRef.current;
    const timer = setTimeout(
      async () => {
        validatedOnce.current = true;
        const result = await client.query(VALIDATE, { definition: def }, { requestPolicy: "network-only" }).toPromise();
        if (result.data) {
          showProblems(result.data.validateDefinition, def);
          setValidated(true);
        }
      },
      validatedOnce.current ? 350 : 0,
    );
    return () => clearTimeout(timer);
  }, [validationKey, client, showProblems]);

  // Drawn and validated: fetch the inspector's form code now, before anyone opens a node.
  useEffect(() => {
    if (validated) preloadSchemaForm();
  }, [validated]);

  const [, update] = useMutation(UPDATE_WORKFLOW);
  const [, publish] = useMutation(PUBLISH);
  const [, startRun] = useMutation(START_RUN);

  const save = useCallback(async (): Promise<boolean> => {
    const def = graphToDefinition(nodes, edges);
    const res = await update({ id: workflow.id, input: { definition: def, expectedRevision: revision } });
    const payload = res.data?.updateWorkflow;
    if (!payload) {
      setMessage({ kind: "error", text: res.error?.message ?? "Saving failed." });
      return false;
    }
    if (payload.errors.length) {
      const m = showProblems(payload.errors, def);
      const first = payload.errors[0]!;
      setMessage({
        kind: "error",
        text: `Not saved: ${payload.errors.length} problem(s). ${m.general.length ? first.message : "See the marked nodes."}`,
      });
      return false;
    }
    setRevision(payload.workflow!.revision);
    setSavedKey(JSON.stringify(def));
    setMessage({ kind: "ok", text: "Draft saved." });
    return true;
  }, [nodes, edges, update, workflow.id, revision, showProblems]);

  const doPublish = async () => {
    if (dirty && !(await save())) return;
    const res = await publish({ id: workflow.id, note: note || null });
    const payload = res.data?.publishWorkflow;
    if (!payload || payload.errors.length) {
      if (payload) showProblems(payload.errors, definition);
      setMessage({ kind: "error", text: `Not published: ${payload?.errors[0]?.message ?? res.error?.message}` });
      return;
    }
    setLatestVersion(payload.version!.version);
    setNote("");
    setMessage({ kind: "ok", text: `Published version ${payload.version!.version}.` });
  };

  const trigger = nodes.find((n) => byType.get(n.data.nodeType)?.trigger);
  const inputSchema = trigger?.data.config.input_schema as Record<string, unknown> | undefined;

  const doStart = async (input: unknown) => {
    const res = await startRun({ workflowId: workflow.id, input: input ?? {} });
    const payload = res.data?.startRun;
    if (!payload?.run) {
      setMessage({ kind: "error", text: `Run not started: ${payload?.errors[0]?.message ?? res.error?.message}` });
      return;
    }
    navigate(`/runs/${payload.run.id}`);
  };

  const addNode = useCallback(
    (type: string, position?: { x: number; y: number }) => {
      const nodeType = byType.get(type);
      if (!nodeType) return;
      const id = newNodeId(type, nodes.map((n) => n.id));
      let at = position;
      if (!at) {
        const rightmost = nodes.reduce((m, n) => Math.max(m, n.position.x), -Infinity);
        at = nodes.length ? { x: rightmost + 260, y: nodes[nodes.length - 1]!.position.y } : { x: 0, y: 0 };
      }
      const node: StepNode = {
        id,
        type: "step",
        position: at,
        selected: true,
        data: { nodeType: type, title: nodeType.title, config: {}, extras: {}, branches: info.branches(type, {}), problems: [] },
      };
      setNodes((ns) => [...ns.map((n) => (n.selected ? { ...n, selected: false } : n)), node]);
      setSelectedId(id);
    },
    [byType, info, nodes, setNodes],
  );

  const onConnect = useCallback(
    (c: Connection) => {
      if (c.source === c.target) return;
      const branch = c.sourceHandle ?? null;
      const edge: StepEdge = {
        id: edgeId(c.source, branch, c.target),
        source: c.source,
        target: c.target,
        sourceHandle: branch,
        data: {},
      };
      if (branch) edge.label = branch;
      setEdges((es) => (es.some((e) => e.id === edge.id) ? es : addEdge(edge, es)));
    },
    [setEdges],
  );

  /** Puts a history state on the canvas; nodes that stay keep their selection, measurements and problems. */
  const restore = useCallback(
    (snapshot: Snapshot) => {
      const g = definitionToGraph(snapshot.def, info);
      setNodes((current) => {
        const byId = new Map(current.map((n) => [n.id, n]));
        return g.nodes.map((n) => {
          const was = byId.get(n.id);
          return was ? { ...was, position: n.position, data: { ...n.data, problems: was.data.problems } } : n;
        });
      });
      setEdges((current) => {
        const selected = new Set(current.filter((e) => e.selected).map((e) => e.id));
        return g.edges.map((e) => (selected.has(e.id) ? { ...e, selected: true } : e));
      });
      setSelectedId((id) => (id && snapshot.def.nodes.some((n) => n.id === id) ? id : null));
    },
    [info, setNodes, setEdges],
  );

  const travel = (move: typeof undo) => {
    const next = move(historyRef.current);
    if (next === historyRef.current) return false;
    historyRef.current = next;
    setHistory(next);
    restore(next.present);
    return true;
  };

  // Copy/paste: the clip lives in the page (not the system clipboard); each paste of it lands a bit further off.
  const clip = useRef<Clip | null>(null);
  const pastes = useRef(0);
  const copySelection = () => {
    const ids = nodes.filter((n) => n.selected).map((n) => n.id);
    const copied = copyNodes(definition, ids.length ? ids : selectedId ? [selectedId] : []);
    if (!copied) return false;
    clip.current = copied;
    pastes.current = 0;
    const count = copied.nodes.length;
    setMessage({ kind: "ok", text: `Copied ${count} node${count === 1 ? "" : "s"}; ${MOD}V pastes.` });
    return true;
  };
  const paste = () => {
    if (!clip.current) return false;
    pastes.current += 1;
    const offset = PASTE_OFFSET * pastes.current;
    const pasted = pasteClip(clip.current, nodes.map((n) => n.id), { x: offset, y: offset });
    const g = definitionToGraph({ nodes: pasted.nodes, edges: pasted.edges }, info);
    setNodes((ns) => [
      ...ns.map((n) => (n.selected ? { ...n, selected: false } : n)),
      ...g.nodes.map((n) => ({ ...n, selected: true })),
    ]);
    setEdges((es) => [...es.map((e) => (e.selected ? { ...e, selected: false } : e)), ...g.edges]);
    setSelectedId(g.nodes[0]?.id ?? null);
    return true;
  };

  const commands = useRef<Record<BuilderCommand, () => boolean>>(null!);
  commands.current = { undo: () => travel(undo), redo: () => travel(redo), copy: copySelection, paste };
  useEffect(() => {
    if (!canEdit) return;
    const onKey = (e: KeyboardEvent) => {
      const command = commandFor(e);
      // Text fields keep their own undo, copy and paste; so does a dialog, and a text selection keeps Ctrl+C.
      if (!command || e.defaultPrevented || isTextTarget(e.target)) return;
      if (document.querySelector('[aria-modal="true"]')) return;
      if (command === "copy" && window.getSelection()?.toString()) return;
      if (commands.current[command]()) e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [canEdit]);

  const onNodesChangeTracked = useCallback(
    (changes: NodeChange<StepNode>[]) => {
      for (const c of changes) {
        if (c.type !== "position") continue;
        if (c.dragging) dragging.current = true;
        else if (!dragging.current && c.position) nudged.current = true; // the arrow keys, not a drag's end
      }
      onNodesChange(changes);
    },
    [onNodesChange],
  );
  const onDragStop = useCallback(() => {
    dragging.current = false;
    setDragsEnded((n) => n + 1);
  }, []);

  const suggestions = useMemo(
    () => (selectedId ? templateSuggestions(definitionRef.current, selectedId, byType) : []),
    // Positions do not change what a node can read: follow the validation key, not every drag frame.
    [validationKey, selectedId, byType],
  );

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    const type = event.dataTransfer.getData(DRAG_MIME);
    if (type) addNode(type, flow.screenToFlowPosition({ x: event.clientX, y: event.clientY }));
  };

  const selected = nodes.find((n) => n.id === selectedId);
  // The keyboard's way to connect: the selected node's outgoing edges and the nodes it may connect to.
  const outgoing = useMemo(
    () =>
      selectedId
        ? edges.filter((e) => e.source === selectedId).map((e) => ({ id: e.id, target: e.target, branch: e.sourceHandle ?? null }))
        : [],
    [edges, selectedId],
  );
  const targets = useMemo(
    () =>
      selectedId
        ? nodes
            .filter((n) => n.id !== selectedId && !byType.get(n.data.nodeType)?.trigger)
            .map((n) => ({ id: n.id, label: n.data.extras.label || n.data.title }))
        : [],
    // Positions do not change the choices: follow the validation key (ids, types, labels), not every drag frame.
    [validationKey, selectedId, byType],
  );
  const updateSelected = (change: (n: StepNode) => StepNode) =>
    setNodes((ns) => ns.map((n) => (n.id === selectedId ? change(n) : n)));

  const problemCount = Object.values(mapped.byNode).reduce((a, l) => a + l.length, 0) + mapped.general.length;

  return (
    <Workspace>
      <Toolbar>
        <ToolbarTitle>
          <Link to="/">Workflows</Link> / {workflow.name}
        </ToolbarTitle>
        <span className="text-muted-foreground" role="status">
          {dirty ? "Unsaved changes" : "Saved"} · revision {revision} ·{" "}
          {latestVersion ? `published v${latestVersion}` : "not published"} ·{" "}
          {!validated ? "checking…" : problemCount ? `⚠ ${problemCount} problem(s)` : "✓ valid"}
        </span>
        {canEdit ? (
          <span className="inline-flex gap-1" role="group" aria-label="History">
            <Button
              onClick={() => travel(undo)}
              disabled={!canUndo(history)}
              title={`Undo (${MOD}Z)`}
              aria-keyshortcuts="Control+Z Meta+Z"
            >
              Undo
            </Button>
            <Button
              onClick={() => travel(redo)}
              disabled={!canRedo(history)}
              title={`Redo (${MOD}Shift+Z)`}
              aria-keyshortcuts="Control+Shift+Z Meta+Shift+Z Control+Y"
            >
              Redo
            </Button>
          </span>
        ) : null}
        <Button
          onClick={() => {
            setNodes((ns) => layoutGraph(ns, edges));
            requestAnimationFrame(() => void flow.fitView(FIT_VIEW));
          }}
        >
          Auto-layout
        </Button>
        <Button onClick={() => setComparing(true)}>Compare versions</Button>
        {canEdit ? (
          <Button variant="default" onClick={() => void save()} disabled={!dirty}>
            Save draft
          </Button>
        ) : null}
        {canPublish ? (
          <span className="flex items-center gap-1.5">
            <Label htmlFor="publish-note">Note</Label>
            <Input id="publish-note" className="w-40" value={note} onChange={(e) => setNote(e.target.value)} placeholder="what changed" />
            <Button onClick={() => void doPublish()}>Publish</Button>
          </span>
        ) : null}
        {canStart ? (
          <Button
            disabled={!latestVersion}
            title={latestVersion ? `Start a run of version ${latestVersion}` : "Publish first"}
            onClick={() => (inputSchema ? setRunForm({}) : void doStart({}))}
          >
            Start run
          </Button>
        ) : null}
      </Toolbar>
      {message ? (
        <p
          className={`px-3 py-1 text-sm ${message.kind === "ok" ? "text-success" : "text-destructive"}`}
          role={message.kind === "ok" ? "status" : "alert"}
        >
          {message.text}
        </p>
      ) : null}
      <ProblemList items={mapped.general} label="Problems of the workflow" className="px-3 py-1" />
      <div className="flex min-h-0 flex-1">
        {canEdit ? <Palette types={types} onAdd={(t) => addNode(t)} /> : null}
        <div className="relative min-w-0 flex-1" onDragOver={(e) => e.preventDefault()} onDrop={onDrop} data-testid="canvas">
          <ReactFlow<StepNode, StepEdge>
            nodes={nodes}
            edges={edges}
            nodeTypes={nodeTypes}
            onNodesChange={onNodesChangeTracked}
            onEdgesChange={onEdgesChange}
            onConnect={onConnect}
            onNodeDragStart={() => (dragging.current = true)}
            onNodeDragStop={onDragStop}
            onSelectionDragStart={() => (dragging.current = true)}
            onSelectionDragStop={onDragStop}
            onSelectionChange={({ nodes: sel }) => setSelectedId(sel[0]?.id ?? null)}
            nodesDraggable={canEdit}
            nodesConnectable={canEdit}
            deleteKeyCode={canEdit ? ["Backspace", "Delete"] : null}
            onlyRenderVisibleElements={nodes.length > LARGE_GRAPH}
            fitView
            fitViewOptions={FIT_VIEW}
            minZoom={0.05}
          >
            <Background />
            <Controls />
            <MiniMap pannable zoomable ariaLabel="Mini map" />
          </ReactFlow>
        </div>
        {selected ? (
          <Inspector
            node={selected}
            nodeType={byType.get(selected.data.nodeType)}
            editable={canEdit}
            suggestions={suggestions}
            onRename={(to) => {
              const renamed = renameNode(nodes, edges, selected.id, to);
              if (!renamed) return false;
              setNodes(renamed.nodes);
              setEdges(renamed.edges);
              setSelectedId(to);
              return true;
            }}
            onLabel={(label) =>
              updateSelected((n) => {
                const { label: _old, ...extras } = n.data.extras;
                return { ...n, data: { ...n.data, extras: label ? { ...extras, label } : extras } };
              })
            }
            onConfig={(config) =>
              updateSelected((n) => ({
                ...n,
                data: { ...n.data, config, branches: info.branches(n.data.nodeType, config) },
              }))
            }
            onDelete={() => {
              setNodes((ns) => ns.filter((n) => n.id !== selected.id));
              setEdges((es) => es.filter((e) => e.source !== selected.id && e.target !== selected.id));
              setSelectedId(null);
            }}
          >
            <EdgeEditor
              nodeId={selected.id}
              branches={selected.data.branches}
              targets={targets}
              outgoing={outgoing}
              editable={canEdit}
              onConnect={(target, branch) =>
                onConnect({ source: selected.id, target, sourceHandle: branch, targetHandle: null })
              }
              onRemove={(edgeId) => setEdges((es) => es.filter((e) => e.id !== edgeId))}
            />
          </Inspector>
        ) : (
          <aside className={SIDE_PANEL} aria-label="Inspector">
            <p className="text-muted-foreground">Select a node to see its settings.</p>
            <RecentRuns workflowId={workflow.id} />
          </aside>
        )}
      </div>
      {comparing ? (
        <CompareVersions workflowId={workflow.id} draft={definition} onClose={() => setComparing(false)} />
      ) : null}
      <Dialog open={!!(runForm && inputSchema)} onOpenChange={(open) => !open && setRunForm(null)}>
        <DialogContent aria-describedby={undefined}>
          <DialogTitle>Start a run</DialogTitle>
          {runForm && inputSchema ? (
            <SchemaForm schema={inputSchema} formData={runForm} idPrefix="run-input" liveValidate onSubmit={(data) => void doStart(data)}>
              <DialogFooter className="mt-4">
                <Button type="submit" variant="default">
                  Start
                </Button>
                <Button onClick={() => setRunForm(null)}>Cancel</Button>
              </DialogFooter>
            </SchemaForm>
          ) : null}
        </DialogContent>
      </Dialog>
    </Workspace>
  );
}

function RecentRuns({ workflowId }: { workflowId: string }) {
  const [{ data }] = useQuery({
    query: WORKFLOW_RUNS,
    variables: { workflowId },
    requestPolicy: "cache-and-network",
  });
  const runs = data?.runs.nodes ?? [];
  if (!runs.length) return null;
  return (
    <section aria-label="Recent runs">
      <h3 className="mb-1">Recent runs</h3>
      <ul className="grid gap-1">
        {runs.map((r) => (
          <li key={r.id} className="flex flex-wrap items-center gap-1.5">
            <Link to={`/runs/${r.id}`}>
              v{r.version} · {new Date(r.createdAt).toLocaleString()}
            </Link>{" "}
            <StatusBadge status={r.status} />
          </li>
        ))}
      </ul>
    </section>
  );
}
