import { renderHook } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import approveLargeOrders from "../../../studio_shared/examples/approve_large_orders.json";
import { definitionToGraph, type Definition, type StepNode } from "../lib/definition";
import { typeInfo } from "../lib/nodeTypes";
import { registry } from "../test/registry";
import type { Notice } from "./notice";
import { useClipboard } from "./useClipboard";

const definition = approveLargeOrders.definition as Definition;
const graph = definitionToGraph(definition, typeInfo(registry)).nodes;
const selecting = (...ids: string[]): StepNode[] => graph.map((n) => (ids.includes(n.id) ? { ...n, selected: true } : n));

function setup(nodes: StepNode[], selectedId: string | null = null) {
  const insert = vi.fn();
  const notices: Notice[] = [];
  const { result } = renderHook(() => useClipboard({ definition, nodes, selectedId, insert, notify: (n) => notices.push(n) }));
  return { clipboard: result.current, insert, notices };
}

describe("useClipboard", () => {
  it("copies nothing and pastes nothing before anything is selected or copied", () => {
    const { clipboard, insert, notices } = setup(graph);
    expect(clipboard.paste()).toBe(false);
    expect(clipboard.copy()).toBe(false);
    expect(insert).not.toHaveBeenCalled();
    expect(notices).toEqual([]);
  });

  it("copies the selected nodes with the edges among them; each paste lands further off with fresh ids", () => {
    const { clipboard, insert, notices } = setup(selecting("check", "ok"));
    expect(clipboard.copy()).toBe(true);
    expect(notices).toEqual([{ kind: "ok", text: "Copied 2 nodes; Ctrl+V pastes." }]);
    expect(clipboard.paste()).toBe(true);
    expect(clipboard.paste()).toBe(true);
    const [first, second] = insert.mock.calls.map(([pasted]) => pasted);
    expect(first.nodes.map((n: { id: string }) => n.id)).toEqual(["check_1", "ok_1"]);
    expect(first.edges).toEqual([{ source: "check_1", target: "ok_1", branch: "true" }]);
    expect(first.nodes[0].position).toEqual({ x: 340, y: 40 });
    expect(second.nodes[0].position).toEqual({ x: 380, y: 80 });
  });

  it("copies the inspector's node when none is selected on the canvas", () => {
    const { clipboard, notices } = setup(graph, "notify");
    expect(clipboard.copy()).toBe(true);
    expect(notices).toEqual([{ kind: "ok", text: "Copied 1 node; Ctrl+V pastes." }]);
  });
});
