import { act, cleanup, fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { StepNode } from "../lib/definition";
import type { TemplateSuggestion } from "../lib/templatePaths";
import { nodeType } from "../test/registry";
import { Inspector } from "./Inspector";
import { TemplateInput } from "./TemplateInput";

// The form itself, not its lazy loading (tested in LazySchemaForm.test.tsx): rendered synchronously here.
vi.mock("./LazySchemaForm", async () => ({ SchemaForm: (await import("./SchemaForm")).SchemaForm, preloadSchemaForm: () => {} }));

afterEach(cleanup);

const SUGGESTIONS: TemplateSuggestion[] = [
  { path: "input", detail: "the run input" },
  { path: "input.amount", detail: "number" },
  { path: "steps.fetch.output", detail: "output of http.request" },
  { path: "steps.fetch.output.status", detail: "integer" },
  { path: "run.id", detail: "string" },
];

function Harness({ initial = "", onValue }: { initial?: string; onValue?: (v: string) => void }) {
  const [value, setValue] = useState(initial);
  return (
    <>
      <label htmlFor="f">Field</label>
      <TemplateInput
        id="f"
        value={value}
        suggestions={SUGGESTIONS}
        onChange={(v) => {
          setValue(v);
          onValue?.(v);
        }}
      />
    </>
  );
}

const field = () => screen.getByRole("combobox", { name: "Field" }) as HTMLInputElement;
const type = (text: string) => fireEvent.change(field(), { target: { value: text } });
const key = (k: string, extra: Record<string, unknown> = {}) => fireEvent.keyDown(field(), { key: k, ...extra });
const options = () => screen.queryAllByRole("option");
const active = () => {
  const id = field().getAttribute("aria-activedescendant");
  return id ? document.getElementById(id)?.textContent : null;
};

describe("template autocompletion", () => {
  it("opens on `{{ ` with every path, as a listbox the field points into", () => {
    render(<Harness />);
    expect(field().getAttribute("aria-expanded")).toBe("false");
    expect(screen.getByRole("listbox", { hidden: true }).hidden).toBe(true);
    type("Hello {{ ");
    expect(field().getAttribute("aria-expanded")).toBe("true");
    const list = screen.getByRole("listbox", { name: "Template paths" });
    expect(field().getAttribute("aria-controls")).toBe(list.id);
    expect(options().map((o) => o.querySelector("code")?.textContent)).toEqual(SUGGESTIONS.map((s) => s.path));
    expect(options()[0]!.getAttribute("aria-selected")).toBe("true");
    expect(active()).toContain("input");
  });

  it("moves with ArrowDown/ArrowUp (wrapping) and accepts with Enter, closing the expression", () => {
    const onValue = vi.fn();
    render(<Harness onValue={onValue} />);
    type("Total: {{ st");
    expect(options().map((o) => o.querySelector("code")?.textContent)).toEqual([
      "steps.fetch.output",
      "steps.fetch.output.status",
    ]);
    key("ArrowDown");
    expect(active()).toContain("steps.fetch.output.status");
    expect(options()[1]!.getAttribute("aria-selected")).toBe("true");
    key("ArrowDown");
    expect(active()).toContain("steps.fetch.output"); // wrapped to the first
    key("ArrowUp");
    expect(active()).toContain("steps.fetch.output.status");
    const enter = new KeyboardEvent("keydown", { key: "Enter", bubbles: true, cancelable: true });
    act(() => void field().dispatchEvent(enter));
    expect(enter.defaultPrevented).toBe(true); // a form is not submitted
    expect(onValue).toHaveBeenLastCalledWith("Total: {{ steps.fetch.output.status }}");
    expect(field().value).toBe("Total: {{ steps.fetch.output.status }}");
    expect(field().getAttribute("aria-expanded")).toBe("false");
    expect(field().selectionStart).toBe(field().value.length);
  });

  it("accepts with Tab inside an existing expression, replacing the partial path", () => {
    render(<Harness />);
    type("{{ inp }} and {{ run.id }}");
    // Put the caret after "inp" and reconsider (as a click does).
    field().setSelectionRange(6, 6);
    fireEvent.click(field());
    expect(options().map((o) => o.querySelector("code")?.textContent)).toEqual(["input", "input.amount"]);
    key("ArrowDown");
    key("Tab");
    expect(field().value).toBe("{{ input.amount }} and {{ run.id }}");
  });

  it("closes with Escape and stays closed until the text changes; nothing opens outside {{ }}", () => {
    const onValue = vi.fn();
    render(<Harness onValue={onValue} />);
    type("plain text");
    expect(field().getAttribute("aria-expanded")).toBe("false");
    type("{{ ");
    expect(options().length).toBe(SUGGESTIONS.length);
    key("Escape");
    expect(field().getAttribute("aria-expanded")).toBe("false");
    expect(field().hasAttribute("aria-activedescendant")).toBe(false);
    // Enter with the list closed is the field's own (no path inserted).
    key("Enter");
    expect(onValue).toHaveBeenLastCalledWith("{{ ");
    type("{{ i");
    expect(field().getAttribute("aria-expanded")).toBe("true");
    type("{{ nothing.like.this");
    expect(field().getAttribute("aria-expanded")).toBe("false");
  });

  it("accepts a path picked with the mouse", () => {
    render(<Harness />);
    type("{{ ");
    fireEvent.mouseDown(screen.getByText("run.id"));
    expect(field().value).toBe("{{ run.id }}");
  });

  it("is wired into the inspector's template fields with the node's paths", () => {
    const onConfig = vi.fn();
    const n: StepNode = {
      id: "check",
      type: "step",
      position: { x: 0, y: 0 },
      data: { nodeType: "condition", title: "Condition", config: {}, extras: {}, branches: [], problems: [] },
    };
    render(
      <Inspector
        node={n}
        nodeType={nodeType("condition")}
        editable
        suggestions={SUGGESTIONS}
        onRename={() => true}
        onLabel={() => {}}
        onConfig={onConfig}
        onDelete={() => {}}
      />,
    );
    const expression = screen.getByRole("combobox", { name: /^Expression/ });
    fireEvent.change(expression, { target: { value: "{{ input.a" } });
    expect(screen.getAllByRole("option").map((o) => o.querySelector("code")?.textContent)).toEqual(["input.amount"]);
    fireEvent.keyDown(expression, { key: "Enter" });
    expect(onConfig).toHaveBeenLastCalledWith({ expression: "{{ input.amount }}" });
  });
});
