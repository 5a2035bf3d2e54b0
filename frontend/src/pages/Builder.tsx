// The visual builder: palette, React Flow canvas, inspector; validate as you edit, save, publish, start runs.
// The page loads the workflow and the node types; the editor composes the hooks and panels of src/builder/, which
// hold its state (graph, selection, history, clipboard, validation, draft) one concern each.
import { ReactFlowProvider, type NodeChange } from "@xyflow/react";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link } from "react-router-dom";
import { useParams } from "react-router-dom";
import { useQuery } from "urql";
import { NODE_TYPES, WORKFLOW } from "../api/operations";
import type { NodeTypeInfo, UserError, WorkflowDetail } from "../api/types";
import { useCan } from "../auth";
import { BuilderCanvas } from "../builder/BuilderCanvas";
import { BuilderToolbar } from "../builder/BuilderToolbar";
import { NodePanel } from "../builder/NodePanel";
import { NoticeLine, type Notice } from "../builder/notice";
import { useCatalog } from "../builder/useCatalog";
import { useClipboard } from "../builder/useClipboard";
import { useDraft } from "../builder/useDraft";
import { useGraphEdits } from "../builder/useGraphEdits";
import { useGraphState } from "../builder/useGraphState";
import { LeaveDialog, useLeaveGuard } from "../builder/useLeaveGuard";
import { useSelection } from "../builder/useSelection";
import { useShortcuts } from "../builder/useShortcuts";
import { useStartRun } from "../builder/useStartRun";
import { useFollowRun } from "../builder/useFollowRun";
import { useTestDraft } from "../builder/useTestDraft";
import { useUndoRedo } from "../builder/useUndoRedo";
import { useValidation } from "../builder/useValidation";
import { WorkflowPanel } from "../builder/WorkflowPanel";
import { ProblemList } from "../components/Inspector";
import { preloadSchemaForm } from "../components/LazySchemaForm";
import { Palette } from "../components/Palette";
import { Spinner } from "../components/Page";
import { StatusBadge } from "../components/StatusBadge";
import { Button } from "../components/ui/button";
import { PageProblem, Workspace } from "../components/Workspace";
import type { Definition, StepNode } from "../lib/definition";
import { triggerInputSchema } from "../lib/graphEdits";
import { overlayTest, type TestStepView } from "../lib/testOverlay";

export function BuilderPage() {
  const { id = "" } = useParams();
  const [wf] = useQuery({ query: WORKFLOW, variables: { id }, requestPolicy: "network-only" });
  const [nt] = useQuery({ query: NODE_TYPES, requestPolicy: "cache-first" });
  if (wf.error || nt.error) return <PageProblem>{(wf.error ?? nt.error)?.message}</PageProblem>;
  if (!wf.data || !nt.data) return <Spinner label="Loading the workflow…" className="px-6 py-4" />;
  if (!wf.data.workflow) return <PageProblem>This workflow does not exist.</PageProblem>;
  return (
    <ReactFlowProvider>
      <Builder key={wf.data.workflow.id} workflow={wf.data.workflow} types={nt.data.nodeTypes} />
    </ReactFlowProvider>
  );
}

function Builder({ workflow, types }: { workflow: WorkflowDetail; types: NodeTypeInfo[] }) {
  const canEdit = useCan("editGraph");
  const catalog = useCatalog(types);
  const graph = useGraphState(workflow.draft as Definition, catalog.info);
  const selection = useSelection(graph.nodes);
  const edits = useGraphEdits(graph, selection.select, catalog);
  const history = useUndoRedo({ ...graph, defaultsOf: catalog.defaultsOf, restore: edits.restore });
  const validation = useValidation(graph);
  const [notice, notify] = useState<Notice | null>(null);
  const draft = useDraft({ workflow, ...graph, showProblems: validation.showProblems, notify });
  const leave = useLeaveGuard(draft.dirty);
  const startRun = useStartRun(workflow.id, notify);
  const canTest = useCan("testDraft");
  const { dirty, save } = draft;
  const { showProblems } = validation;
  const { definition } = graph;
  const test = useTestDraft({
    workflowId: workflow.id,
    saveFirst: useCallback(async () => !dirty || save(), [dirty, save]),
    notify,
    onProblems: useCallback((errors: readonly UserError[]) => void showProblems(errors, definition), [showProblems, definition]),
  });
  const testRun = useFollowRun(test.testRunId);
  const stepRun = useFollowRun(test.stepRun?.runId ?? null);
  const pinned = useMemo(() => new Set(test.pins.map((p) => p.nodeId)), [test.pins]);
  const testSteps = useMemo(() => {
    if (!testRun) return null;
    const steps: Record<string, TestStepView> = {};
    for (const [id, status] of Object.entries(testRun.statuses)) steps[id] = { status, output: testRun.results[id]?.output };
    return steps;
  }, [testRun?.statuses, testRun?.results, testRun]);
  // The test run's statuses and outputs, and the pins, are drawn on the canvas's nodes (not kept in the graph).
  const overlays = useRef(new WeakMap<StepNode, StepNode>());
  const shownNodes = useMemo(() => overlayTest(graph.nodes, testSteps, pinned, overlays.current), [graph.nodes, testSteps, pinned]);
  const clipboard = useClipboard({ ...graph, selectedId: selection.selectedId, insert: edits.insert, notify });
  useShortcuts(canEdit, {
    undo: history.undo,
    redo: history.redo,
    copy: clipboard.copy,
    paste: clipboard.paste,
    // Ctrl+S never opens the browser's "Save page" here, saved or not.
    save: () => {
      if (draft.dirty) void draft.save();
      return true;
    },
  });

  // Drawn and validated: fetch the inspector's form code now, before anyone opens a node.
  useEffect(() => {
    if (validation.validated) preloadSchemaForm();
  }, [validation.validated]);

  const { trackNodeChanges } = history;
  const { onNodesChange } = graph;
  const onNodesChangeTracked = useCallback(
    (changes: NodeChange<StepNode>[]) => {
      trackNodeChanges(changes);
      onNodesChange(changes);
    },
    [trackNodeChanges, onNodesChange],
  );

  return (
    <Workspace>
      <LeaveDialog blocker={leave} save={canEdit ? draft.save : undefined} what={`The workflow “${workflow.name}”`} />
      <BuilderToolbar
        workflow={workflow}
        definition={graph.definition}
        draft={draft}
        validation={validation}
        history={history}
        onAutoLayout={edits.autoLayout}
        startRun={{ inputSchema: triggerInputSchema(graph.nodes, catalog.byType), onStart: startRun }}
        testWorkflow={{
          inputSchema: triggerInputSchema(graph.nodes, catalog.byType),
          onTest: test.start,
          running: !!testRun && !testRun.finished,
        }}
      />
      <NoticeLine notice={notice} />
      {testRun ? (
        <p className="flex flex-wrap items-center gap-2 border-b px-3 py-1 text-sm" data-testid="test-run-bar">
          <span className="rounded border px-1 text-xs font-semibold">Test</span> Test run of the draft:
          <span data-testid="test-run-status" data-status={testRun.status ?? undefined}>
            <StatusBadge status={testRun.status ?? "QUEUED"} />
          </span>
          <Link to={`/runs/${testRun.runId}`}>Open the test run</Link>
          <Button variant="ghost" className="h-6 px-2" onClick={() => test.setTestRunId(null)}>
            Clear results
          </Button>
        </p>
      ) : null}
      <ProblemList items={validation.mapped.general} label="Problems of the workflow" className="px-3 py-1" />
      <div className="flex min-h-0 flex-1">
        {canEdit ? <Palette types={types} onAdd={(t) => edits.addNode(t)} /> : null}
        <BuilderCanvas
          nodes={shownNodes}
          edges={graph.edges}
          editable={canEdit}
          onNodesChange={onNodesChangeTracked}
          onEdgesChange={graph.onEdgesChange}
          onConnect={edits.connect}
          onSelectionChange={selection.onSelectionChange}
          onDragStart={history.dragStarted}
          onDragStop={history.dragStopped}
          onDropType={edits.addNode}
        />
        {selection.selected ? (
          <NodePanel
            node={selection.selected}
            byType={catalog.byType}
            editable={canEdit}
            nodes={graph.nodes}
            edges={graph.edges}
            definition={graph.definition}
            validationKey={graph.validationKey}
            edits={edits}
            test={
              canTest
                ? {
                    workflowId: workflow.id,
                    lastTest: testRun ? { runId: testRun.runId, step: testRun.results[selection.selected.id] } : null,
                    pin: test.pins.find((p) => p.nodeId === selection.selected?.id) ?? null,
                    stepResult:
                      stepRun && test.stepRun?.nodeId === selection.selected.id
                        ? { step: stepRun.results[selection.selected.id], finished: stepRun.finished }
                        : null,
                    pinOutput: test.pin,
                    unpin: test.unpin,
                    runStep: test.runStep,
                  }
                : undefined
            }
          />
        ) : (
          <WorkflowPanel workflowId={workflow.id} />
        )}
      </div>
    </Workspace>
  );
}
