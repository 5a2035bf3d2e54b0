// The builder's undo/redo, copy/paste and keyboard-connect wiring, on a fake GraphQL server (no canvas gestures in jsdom).
import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { MemoryRouter, Route, Routes } from "react-router-dom";
import { Client, Provider, getOperationName, makeResult, type Exchange } from "urql";
import { filter, map, pipe } from "wonka";
import { afterEach, describe, expect, it } from "vitest";
import { ViewerProvider } from "../auth";
import { registry } from "../test/registry";
import { BuilderPage } from "./Builder";

afterEach(cleanup);

const EDITOR = ["workflow:read", "workflow:write", "workflow:publish", "run:read", "run:start"];

const draft = {
  nodes: [
    {
      id: "start",
      type: "trigger.manual",
      config: { input_schema: { type: "object", properties: { amount: { type: "number" } } } },
      position: { x: 0, y: 0 },
    },
    { id: "check", type: "condition", config: { expression: "{{ input.amount > 1 }}" }, position: { x: 260, y: 0 } },
  ],
  edges: [{ source: "start", target: "check" }],
};

function fakeServer(): Exchange {
  const answers: Record<string, (vars: Record<string, unknown>) => unknown> = {
    Me: () => ({
      me: { user: { id: "u", email: "e@x" }, tenant: { id: "t", name: "T" }, role: "EDITOR", permissions: EDITOR },
    }),
    Workflow: () => ({
      workflow: { id: "w1", name: "Flow", description: null, draft, revision: 1, latestVersion: null },
    }),
    NodeTypes: () => ({ nodeTypes: registry }),
    Validate: () => ({ validateDefinition: [] }),
    WorkflowRuns: () => ({ runs: { nodes: [] } }),
  };
  return () => (ops$) =>
    pipe(
      ops$,
      filter((op) => op.kind !== "teardown"),
      map((op) => makeResult(op, { data: answers[getOperationName(op.query) ?? ""]?.(op.variables as never) ?? null })),
    );
}

function renderBuilder() {
  const client = new Client({ url: "http://studio.test/graphql", exchanges: [fakeServer()] });
  render(
    <Provider value={client}>
      <ViewerProvider>
        <MemoryRouter initialEntries={["/workflows/w1"]}>
          <Routes>
            <Route path="/workflows/:id" element={<BuilderPage />} />
          </Routes>
        </MemoryRouter>
      </ViewerProvider>
    </Provider>,
  );
}

const nodeIds = () =>
  screen
    .queryAllByTestId(/^node-/)
    .map((el) => el.getAttribute("data-testid")!.slice(5))
    .sort();
const button = (name: string) => screen.getByRole("button", { name }) as HTMLButtonElement;
const press = (key: string, mods: KeyboardEventInit = {}) =>
  act(() => void window.dispatchEvent(new KeyboardEvent("keydown", { key, bubbles: true, cancelable: true, ...mods })));

describe("builder history and clipboard", () => {
  it("undoes and redoes an added node with the toolbar and the keyboard", async () => {
    renderBuilder();
    await waitFor(() => expect(nodeIds()).toEqual(["check", "start"]));
    expect(button("Undo").disabled).toBe(true);
    fireEvent.click(screen.getByTestId("palette-transform"));
    await waitFor(() => expect(nodeIds()).toEqual(["check", "start", "transform_1"]));
    expect(button("Undo").disabled).toBe(false);
    fireEvent.click(button("Undo"));
    await waitFor(() => expect(nodeIds()).toEqual(["check", "start"]));
    expect(button("Redo").disabled).toBe(false);
    press("z", { ctrlKey: true, shiftKey: true });
    await waitFor(() => expect(nodeIds()).toEqual(["check", "start", "transform_1"]));
    press("z", { metaKey: true });
    await waitFor(() => expect(nodeIds()).toEqual(["check", "start"]));
    press("y", { ctrlKey: true });
    await waitFor(() => expect(nodeIds()).toEqual(["check", "start", "transform_1"]));
  });

  it("coalesces a burst of typing in one inspector field into one undo step", async () => {
    renderBuilder();
    await waitFor(() => expect(nodeIds()).toEqual(["check", "start"]));
    fireEvent.click(screen.getByTestId("palette-condition")); // selected: its inspector opens
    const field = () => screen.getByRole("combobox", { name: /^Expression/ }) as HTMLInputElement;
    await waitFor(() => field());
    for (const text of ["{", "{{", "{{ in", "{{ input }}"]) fireEvent.change(field(), { target: { value: text } });
    expect(field().value).toBe("{{ input }}");
    // The suggestions of the new node: it has no upstream node yet, so input and run only.
    fireEvent.change(field(), { target: { value: "{{ " } });
    expect(screen.getAllByRole("option").some((o) => o.textContent?.startsWith("steps."))).toBe(false);
    // Keys typed into a field are the field's own: Ctrl+Z there is not the builder's undo.
    fireEvent.keyDown(field(), { key: "z", ctrlKey: true });
    expect(nodeIds()).toContain("condition_1");
    fireEvent.click(button("Undo"));
    await waitFor(() => expect(field().value).toBe(""));
    fireEvent.click(button("Undo"));
    await waitFor(() => expect(nodeIds()).toEqual(["check", "start"]));
  });

  it("copies the selected node and pastes it with a fresh id, as one undo step", async () => {
    renderBuilder();
    await waitFor(() => expect(nodeIds()).toEqual(["check", "start"]));
    fireEvent.click(screen.getByTestId("palette-transform")); // added and selected
    await waitFor(() => expect(nodeIds()).toContain("transform_1"));
    press("c", { ctrlKey: true });
    await waitFor(() => expect(screen.getByText(/Copied 1 node/)).toBeTruthy());
    press("v", { ctrlKey: true });
    await waitFor(() => expect(nodeIds()).toEqual(["check", "start", "transform_1", "transform_2"]));
    press("v", { ctrlKey: true });
    await waitFor(() => expect(nodeIds()).toEqual(["check", "start", "transform_1", "transform_2", "transform_3"]));
    press("z", { ctrlKey: true });
    await waitFor(() => expect(nodeIds()).toEqual(["check", "start", "transform_1", "transform_2"]));
  });

  it("does not count the defaults the form fills in as an edit of its own", async () => {
    renderBuilder();
    await waitFor(() => expect(nodeIds()).toEqual(["check", "start"]));
    fireEvent.click(screen.getByTestId("palette-http.request")); // selected: the form fills in method, timeouts…
    await waitFor(() => expect(screen.getByRole("combobox", { name: /^URL/ })).toBeTruthy());
    fireEvent.click(button("Undo"));
    await waitFor(() => expect(nodeIds()).toEqual(["check", "start"]));
    fireEvent.click(button("Redo"));
    await waitFor(() => expect(nodeIds()).toContain("http_request_1"));
    expect(button("Redo").disabled).toBe(true);
    // Selecting it again fills in the defaults again: still one step from the start.
    fireEvent.click(screen.getByTestId("node-http_request_1"));
    await waitFor(() => expect(screen.getByRole("combobox", { name: /^URL/ })).toBeTruthy());
    fireEvent.click(button("Undo"));
    await waitFor(() => expect(nodeIds()).toEqual(["check", "start"]));
  });

  it("coalesces consecutive arrow-key nudges of the selection into one undo step", async () => {
    renderBuilder();
    await waitFor(() => expect(nodeIds()).toEqual(["check", "start"]));
    fireEvent.click(screen.getByTestId("node-check")); // selected
    await waitFor(() => expect(screen.getByRole("complementary", { name: "Inspector" }).textContent).toContain("Condition"));
    const wrapper = () => document.querySelector<HTMLElement>('.react-flow__node[data-id="check"]')!;
    const at = wrapper().style.transform;
    expect(button("Undo").disabled).toBe(true);
    for (const key of ["ArrowRight", "ArrowRight", "ArrowRight", "ArrowDown"]) fireEvent.keyDown(wrapper(), { key });
    await waitFor(() => expect(wrapper().style.transform).not.toBe(at));
    await waitFor(() => expect(button("Undo").disabled).toBe(false));
    fireEvent.click(button("Undo")); // one step takes back all four
    await waitFor(() => expect(wrapper().style.transform).toBe(at));
    expect(button("Undo").disabled).toBe(true);
    fireEvent.click(button("Redo"));
    await waitFor(() => expect(wrapper().style.transform).not.toBe(at));
    expect(button("Redo").disabled).toBe(true);
  });

  it("connects the selected node from the inspector (no mouse) and removes the connection again", async () => {
    renderBuilder();
    await waitFor(() => expect(nodeIds()).toEqual(["check", "start"]));
    fireEvent.click(screen.getByTestId("palette-condition")); // added and selected: its inspector opens
    const connections = await screen.findByRole("form", { name: "Connect condition_1 to another node" });
    const target = screen.getByLabelText("Connect to…") as HTMLSelectElement;
    // Every other node but the trigger (nothing connects into a trigger).
    expect([...target.options].map((o) => o.value)).toEqual(["", "check"]);
    fireEvent.change(target, { target: { value: "check" } });
    fireEvent.change(screen.getByLabelText("Branch"), { target: { value: "false" } });
    fireEvent.submit(connections);
    const list = await screen.findByRole("list", { name: "Outgoing connections of condition_1" });
    expect(list.textContent).toContain("check (branch false)");
    // One undo step, like a drawn edge.
    fireEvent.click(button("Undo"));
    await waitFor(() => expect(screen.queryByRole("list", { name: "Outgoing connections of condition_1" })).toBeNull());
    fireEvent.click(button("Redo"));
    fireEvent.click(await screen.findByRole("button", { name: "Remove the connection to check (branch false)" }));
    await waitFor(() => expect(screen.getByText("No outgoing connections.")).toBeTruthy());
  });
});
