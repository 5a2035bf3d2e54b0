import "@xyflow/react/dist/style.css";
// One workflow step on the canvas: its type's icon and colour, title and id (long ones truncated, in full on hover),
// problems and status as text, one source handle per branch; in the builder, a test run's output inline and a
// "pinned" badge.
import { Handle, Position, type NodeProps } from "@xyflow/react";
import { memo } from "react";
import { errorsOf, warningsOf, type StepNode } from "../lib/definition";
import { statusLabel } from "../lib/runState";
import { compactJson } from "../lib/testOverlay";
import { NodeIcon, nodeColorStyle } from "./NodeIcon";

function StepNodeViewImpl({ id, data, selected }: NodeProps<StepNode>) {
  const problems = errorsOf(data.problems).length;
  const warnings = warningsOf(data.problems).length;
  const status = data.status ? statusLabel(data.status) : null;
  const title = data.extras.label || data.title;
  const classes = ["step-node"];
  if (selected) classes.push("selected");
  if (problems) classes.push("has-problems");
  else if (warnings) classes.push("has-warnings");
  if (data.status) classes.push(`status-${data.status.toLowerCase()}`);
  return (
    <div
      className={classes.join(" ")}
      style={nodeColorStyle(data.color)}
      data-testid={`node-${id}`}
      data-status={data.status ?? undefined}
      title={data.problems.map((p) => (p.warning ? `warning: ${p.message}` : p.message)).join("\n") || undefined}
    >
      <Handle type="target" position={Position.Left} />
      <div className="step-head">
        <NodeIcon icon={data.icon} color={data.color} />
        <div className="min-w-0">
          <div className="step-title" title={title}>
            {title}
          </div>
          <div className="step-id" title={id}>
            {id}
          </div>
        </div>
      </div>
      {status ? (
        <div className="step-status">
          <span className="sr-only">status </span>
          <span aria-hidden="true">{status.symbol}</span> {status.text}
        </div>
      ) : null}
      {data.outcome ? <div className="step-outcome font-semibold">{data.outcome}</div> : null}
      {data.pinned ? (
        <div className="step-pinned" data-testid={`pinned-${id}`}>
          Pinned
        </div>
      ) : null}
      {data.output !== undefined ? (
        // The test run's output, one line; expanded in full (nodrag: pressing it is no drag of the node).
        <details className="step-output nodrag" data-testid={`output-${id}`}>
          <summary>
            <span className="sr-only">output </span>
            {compactJson(JSON.parse(data.output), 40)}
          </summary>
          <pre>{data.output}</pre>
        </details>
      ) : null}
      {problems ? (
        <div className="step-problems" role="note">
          <span aria-hidden="true">⚠</span> {problems} {problems === 1 ? "problem" : "problems"}
        </div>
      ) : null}
      {warnings ? (
        <div className="step-warnings" role="note">
          <span aria-hidden="true">△</span> {warnings} {warnings === 1 ? "warning" : "warnings"}
        </div>
      ) : null}
      {data.branches.length ? (
        <div className="branch-handles">
          {data.branches.map((b, i) => (
            <Handle
              key={b}
              id={b}
              type="source"
              position={Position.Right}
              style={{ top: `${((i + 1) * 100) / (data.branches.length + 1)}%` }}
              title={`branch ${b}`}
            >
              <span className="branch-label">{b}</span>
            </Handle>
          ))}
        </div>
      ) : (
        <Handle type="source" position={Position.Right} />
      )}
    </div>
  );
}

export const StepNodeView = memo(StepNodeViewImpl);
export const nodeTypes = { step: StepNodeView };
