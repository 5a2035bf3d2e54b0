// The builder's undo/redo, copy/paste and keyboard-connect wiring, on a fake GraphQL server (no canvas gestures in jsdom).
import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { RouterProvider, createMemoryRouter } from "react-router-dom";
import { Client, Provider, getOperationName, makeResult, type Exchange } from "urql";
import { filter, map, pipe } from "wonka";
import { afterEach, describe, expect, it } from "vitest";
import { SessionProvider, ViewerProvider } from "../auth";
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
    { id: "ask", type: "human.approval", config: { title: "Approve {{ input.amount }}" }, position: { x: 520, y: -80 } },
    { id: "call", type: "http.request", config: { url: "https://example.org/hook" }, position: { x: 520, y: 80 } },
    { id: "route", type: "switch", config: { value: "{{ input.kind }}", cases: ["a"] }, position: { x: 780, y: 0 } },
  ],
  edges: [
    { source: "start", target: "check" },
    { source: "check", target: "ask", branch: "true" },
    { source: "check", target: "call", branch: "false" },
  ],
};
const DRAFT_IDS = ["ask", "call", "check", "route", "start"];
/** The schema form's code loads lazily on first use: on a busy machine, that takes more than waitFor's second. */
const FORM_LOADS = { timeout: 10_000 };

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
    WorkflowPins: () => ({ workflow: { id: "w1", pins: [] } }),
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
  const router = createMemoryRouter(
    [
      {
        path: "/workflows/:id",
        element: <BuilderPage />,
      },
      { path: "/", element: <h1>The workflows page</h1> },
    ],
    { initialEntries: ["/workflows/w1"] },
  );
  render(
    <SessionProvider>
      <Provider value={client}>
        <ViewerProvider>
          <RouterProvider router={router} />
        </ViewerProvider>
      </Provider>
    </SessionProvider>,
  );
  return router;
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
    await waitFor(() => expect(nodeIds()).toEqual(DRAFT_IDS));
    expect(button("Undo").disabled).toBe(true);
    fireEvent.click(screen.getByTestId("palette-transform"));
    await waitFor(() => expect(nodeIds()).toEqual([...DRAFT_IDS, "transform_1"].sort()));
    expect(button("Undo").disabled).toBe(false);
    fireEvent.click(button("Undo"));
    await waitFor(() => expect(nodeIds()).toEqual(DRAFT_IDS));
    expect(button("Redo").disabled).toBe(false);
    press("z", { ctrlKey: true, shiftKey: true });
    await waitFor(() => expect(nodeIds()).toEqual([...DRAFT_IDS, "transform_1"].sort()));
    press("z", { metaKey: true });
    await waitFor(() => expect(nodeIds()).toEqual(DRAFT_IDS));
    press("y", { ctrlKey: true });
    await waitFor(() => expect(nodeIds()).toEqual([...DRAFT_IDS, "transform_1"].sort()));
  });

  it("coalesces a burst of typing in one inspector field into one undo step", async () => {
    renderBuilder();
    await waitFor(() => expect(nodeIds()).toEqual(DRAFT_IDS));
    fireEvent.click(screen.getByTestId("palette-condition")); // selected: its inspector opens
    const field = () => screen.getByRole("combobox", { name: /^Expression/ }) as HTMLInputElement;
    await waitFor(() => field(), FORM_LOADS); // the form's code loads on first use
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
    await waitFor(() => expect(nodeIds()).toEqual(DRAFT_IDS));
  });

  it("copies the selected node and pastes it with a fresh id, as one undo step", async () => {
    renderBuilder();
    await waitFor(() => expect(nodeIds()).toEqual(DRAFT_IDS));
    fireEvent.click(screen.getByTestId("palette-transform")); // added and selected
    await waitFor(() => expect(nodeIds()).toContain("transform_1"));
    press("c", { ctrlKey: true });
    await waitFor(() => expect(screen.getByText(/Copied 1 node/)).toBeTruthy());
    press("v", { ctrlKey: true });
    await waitFor(() => expect(nodeIds()).toEqual([...DRAFT_IDS, "transform_1", "transform_2"].sort()));
    press("v", { ctrlKey: true });
    await waitFor(() => expect(nodeIds()).toEqual([...DRAFT_IDS, "transform_1", "transform_2", "transform_3"].sort()));
    press("z", { ctrlKey: true });
    await waitFor(() => expect(nodeIds()).toEqual([...DRAFT_IDS, "transform_1", "transform_2"].sort()));
  });

  it("does not count the defaults the form fills in as an edit of its own", async () => {
    renderBuilder();
    await waitFor(() => expect(nodeIds()).toEqual(DRAFT_IDS));
    fireEvent.click(screen.getByTestId("palette-http.request")); // selected: the form fills in method, timeouts…
    await waitFor(() => expect(screen.getByRole("combobox", { name: /^URL/ })).toBeTruthy(), FORM_LOADS);
    fireEvent.click(button("Undo"));
    await waitFor(() => expect(nodeIds()).toEqual(DRAFT_IDS));
    fireEvent.click(button("Redo"));
    await waitFor(() => expect(nodeIds()).toContain("http_request_1"));
    expect(button("Redo").disabled).toBe(true);
    // Selecting it again fills in the defaults again: still one step from the start.
    fireEvent.click(screen.getByTestId("node-http_request_1"));
    await waitFor(() => expect(screen.getByRole("combobox", { name: /^URL/ })).toBeTruthy(), FORM_LOADS);
    fireEvent.click(button("Undo"));
    await waitFor(() => expect(nodeIds()).toEqual(DRAFT_IDS));
  });

  it("coalesces consecutive arrow-key nudges of the selection into one undo step", async () => {
    renderBuilder();
    await waitFor(() => expect(nodeIds()).toEqual(DRAFT_IDS));
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
    await waitFor(() => expect(nodeIds()).toEqual(DRAFT_IDS));
    fireEvent.click(screen.getByTestId("palette-condition")); // added and selected: its inspector opens
    const connections = await screen.findByRole("form", { name: "Connect condition_1 to another node" });
    const target = screen.getByLabelText("Connect to…") as HTMLSelectElement;
    // Every other node but the trigger (nothing connects into a trigger).
    expect([...target.options].map((o) => o.value)).toEqual(["", "check", "ask", "call", "route"]);
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

describe("the builder never loses work", () => {
  const status = () => screen.getAllByRole("status").map((el) => el.textContent ?? "").find((t) => t.includes("revision")) ?? "";

  it.each(["ask", "call", "route", "check", "start"])("does not count selecting node %s as a change", async (id) => {
    renderBuilder();
    await waitFor(() => expect(nodeIds()).toEqual(DRAFT_IDS));
    await waitFor(() => expect(status()).toMatch(/^Saved/));
    fireEvent.click(screen.getByTestId(`node-${id}`));
    await waitFor(() => expect(screen.getByRole("complementary", { name: "Inspector" })).toBeTruthy());
    await waitFor(() => expect(document.querySelector(".inspector .rjsf")).toBeTruthy()); // its form is drawn
    await new Promise((r) => setTimeout(r, 300)); // and has filled in its defaults (rjsf reports them as a change)
    expect(status()).toMatch(/^Saved/);
    expect(button("Undo").disabled).toBe(true);
    expect(button("Save draft").disabled).toBe(true);
  });

  it("asks before a link leaves unsaved changes, and stays or leaves as told", async () => {
    const router = renderBuilder();
    await waitFor(() => expect(nodeIds()).toEqual(DRAFT_IDS));
    // The toolbar's way back to the workflows: with nothing to lose, no question.
    fireEvent.click(screen.getByRole("link", { name: "Workflows" }));
    await screen.findByRole("heading", { name: "The workflows page" });
    await act(() => router.navigate("/workflows/w1"));
    await waitFor(() => expect(nodeIds()).toEqual(DRAFT_IDS));

    fireEvent.click(screen.getByTestId("palette-transform"));
    await waitFor(() => expect(status()).toMatch(/^Unsaved changes/));
    fireEvent.click(screen.getByRole("link", { name: "Workflows" }));
    const dialog = await screen.findByRole("alertdialog", { name: "Leave without saving?" });
    expect(dialog.textContent).toContain("“Flow” has changes that are not saved");
    expect(document.activeElement?.textContent).toBe("Stay"); // Enter or Escape never throws the work away
    fireEvent.click(screen.getByRole("button", { name: "Stay" }));
    await waitFor(() => expect(screen.queryByRole("alertdialog")).toBeNull());
    expect(router.state.location.pathname).toBe("/workflows/w1");
    expect(nodeIds()).toContain("transform_1");

    fireEvent.click(screen.getByRole("link", { name: "Workflows" }));
    fireEvent.click(await screen.findByRole("button", { name: "Leave without saving" }));
    await screen.findByRole("heading", { name: "The workflows page" });
  });

  it("asks the browser before the tab closes with unsaved changes, and not otherwise", async () => {
    renderBuilder();
    await waitFor(() => expect(nodeIds()).toEqual(DRAFT_IDS));
    const unload = () => {
      const event = new Event("beforeunload", { cancelable: true });
      window.dispatchEvent(event);
      return event.defaultPrevented;
    };
    expect(unload()).toBe(false);
    fireEvent.click(screen.getByTestId("palette-transform"));
    await waitFor(() => expect(status()).toMatch(/^Unsaved changes/));
    expect(unload()).toBe(true);
    fireEvent.click(button("Undo")); // back to what is saved: nothing to lose
    await waitFor(() => expect(status()).toMatch(/^Saved/));
    expect(unload()).toBe(false);
  });
});
