import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { StepNode } from "../lib/definition";
import { nodeType } from "../test/registry";
import { Inspector } from "./Inspector";

// The form itself, not its lazy loading (tested in LazySchemaForm.test.tsx): rendered synchronously here.
vi.mock("./LazySchemaForm", async () => ({ SchemaForm: (await import("./SchemaForm")).SchemaForm, preloadSchemaForm: () => {} }));

afterEach(cleanup);

function node(type: string, config: Record<string, unknown>, problems: StepNode["data"]["problems"] = []): StepNode {
  return {
    id: "n1",
    type: "step",
    position: { x: 0, y: 0 },
    data: { nodeType: type, title: type, config, extras: {}, branches: [], problems },
  };
}

function renderInspector(n: StepNode, editable = true) {
  const handlers = { onRename: vi.fn(() => true), onLabel: vi.fn(), onConfig: vi.fn(), onDelete: vi.fn() };
  render(<Inspector node={n} nodeType={nodeType(n.data.nodeType)} editable={editable} {...handlers} />);
  return handlers;
}

describe("Inspector (schema-form wiring)", () => {
  it("renders the config form from the type's configSchema and reports edits", () => {
    const h = renderInspector(node("condition", {}));
    const field = screen.getByLabelText(/^Expression/);
    fireEvent.change(field, { target: { value: "{{ input.ok }}" } });
    expect(h.onConfig).toHaveBeenLastCalledWith({ expression: "{{ input.ok }}" });
  });

  it("shows a server problem on the field it belongs to and node problems above the form", () => {
    renderInspector(
      node("http.request", { url: "x" }, [
        { message: "must be an https URL", code: "INVALID_CONFIG", field: ["url"] },
        { message: "edges leaving 'n1' need a branch", code: "MISSING_BRANCH", field: [] },
      ]),
    );
    expect(screen.getByText("must be an https URL")).toBeTruthy();
    expect(screen.getByRole("list", { name: "Problems of this node" }).textContent).toContain("need a branch");
  });

  it("lists warnings apart, in the warning style and naming their field, never as a field error", () => {
    renderInspector(
      node("http.request", { url: "{{ input.amont }}" }, [
        { message: "field 'amont' is not declared at 9", code: "UNDECLARED_FIELD", field: ["url"], warning: true },
        { message: "step 'b' may be skipped at 3", code: "STEP_MAY_BE_SKIPPED", field: [], warning: true },
      ]),
    );
    const warnings = screen.getByRole("list", { name: "Warnings of this node" });
    expect(warnings.className).toContain("text-warning");
    expect(warnings.textContent).toContain("url: field 'amont' is not declared at 9");
    expect(warnings.textContent).toContain("warning: step 'b' may be skipped at 3");
    expect(screen.queryByRole("list", { name: "Problems of this node" })).toBeNull();
    expect(screen.getAllByText(/field 'amont' is not declared/)).toHaveLength(1); // not also under the field
  });

  it("edits shapeless values as JSON and keeps the last valid value while the text does not parse", () => {
    const h = renderInspector(node("transform", { value: 1 }));
    const box = screen.getByLabelText("Value (JSON)");
    fireEvent.change(box, { target: { value: '{"a": "{{ input.x }}"}' } });
    expect(h.onConfig).toHaveBeenLastCalledWith({ value: { a: "{{ input.x }}" } });
    const calls = h.onConfig.mock.calls.length;
    fireEvent.change(box, { target: { value: '{"a": ' } });
    expect(h.onConfig.mock.calls.length).toBe(calls);
    expect(screen.getByText(/Not valid JSON yet/)).toBeTruthy();
  });

  it("refuses an invalid node id and offers no delete button when read-only", () => {
    const h = renderInspector(node("condition", { expression: "{{ 1 }}" }));
    const id = screen.getByLabelText("Node id");
    fireEvent.change(id, { target: { value: "9 bad" } });
    fireEvent.blur(id);
    expect(h.onRename).not.toHaveBeenCalled();
    expect(screen.getByText(/starting with a letter/)).toBeTruthy();
    cleanup();
    renderInspector(node("condition", {}), false);
    expect(screen.queryByRole("button", { name: "Delete node" })).toBeNull();
  });
});

describe("Inspector (the registry's new node types)", () => {
  it("edits a code node's source in the code editor, in its language, with the node's upstream paths", async () => {
    const { EditorView } = await import("@codemirror/view");
    const { completionStatus, startCompletion } = await import("@codemirror/autocomplete");
    const handlers = { onRename: vi.fn(() => true), onLabel: vi.fn(), onConfig: vi.fn(), onDelete: vi.fn() };
    render(
      <Inspector
        node={node("code", { language: "python", source: "def main(input, steps, run):\n    return " })}
        nodeType={nodeType("code")}
        editable
        suggestions={[{ path: "steps.fetch.output.status", detail: "integer" }]}
        {...handlers}
      />,
    );
    await waitFor(() => expect(document.querySelector(".cm-content")).not.toBeNull()); // the editor's chunk has loaded
    expect(screen.getByRole("textbox", { name: "Code (Python)" }).getAttribute("contenteditable")).toBe("true");
    const view = EditorView.findFromDOM(document.querySelector(".cm-editor") as HTMLElement)!;
    // Typing a path begun with `steps` offers the upstream step's output, as Python reads it.
    act(() => view.dispatch({ changes: { from: view.state.doc.length, insert: "steps" }, selection: { anchor: view.state.doc.length + 5 } }));
    expect(handlers.onConfig).toHaveBeenLastCalledWith({ language: "python", source: "def main(input, steps, run):\n    return steps" });
    act(() => void startCompletion(view));
    await waitFor(() => expect(completionStatus(view.state)).toBe("active"));
    expect(document.querySelector(".cm-tooltip-autocomplete")?.textContent).toContain('steps["fetch"]["output"]["status"]');
  });

  it.each(["code", "wait.event", "email.send", "sql.query"])("renders every setting of a %s node from the registry", (type) => {
    renderInspector(node(type, {}));
    const props = (nodeType(type).configSchema as { properties: Record<string, { title?: string }> }).properties;
    for (const [key, prop] of Object.entries(props)) {
      const title = prop.title ?? key;
      const escaped = title.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      expect(screen.getAllByLabelText(new RegExp(`^${escaped}`)).length, `${type}.${key}`).toBeGreaterThan(0);
    }
  });
});
