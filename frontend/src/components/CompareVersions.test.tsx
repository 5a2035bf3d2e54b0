import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { Client, Provider, getOperationName, makeResult, type Exchange } from "urql";
import { filter, map, pipe } from "wonka";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Definition } from "../lib/definition";
import { CompareVersions } from "./CompareVersions";

afterEach(cleanup);

const v1: Definition = {
  nodes: [
    { id: "start", type: "trigger.manual", config: {} },
    { id: "call", type: "http.request", config: { url: "https://a.org" } },
  ],
  edges: [{ source: "start", target: "call" }],
};
const v2: Definition = {
  nodes: [
    { id: "start", type: "trigger.manual", config: {} },
    { id: "call", type: "http.request", config: { url: "https://b.org", method: "POST" } },
    { id: "done", type: "message.reply", config: {} },
  ],
  edges: [
    { source: "start", target: "call" },
    { source: "call", target: "done" },
  ],
};
const draft: Definition = { nodes: [{ id: "start", type: "trigger.manual", config: {} }], edges: [] };

function server(): Exchange {
  const defs: Record<number, Definition> = { 1: v1, 2: v2 };
  return () => (ops$) =>
    pipe(
      ops$,
      filter((op) => op.kind !== "teardown"),
      map((op) => {
        const name = getOperationName(op.query);
        const vars = op.variables as { version?: number };
        const data =
          name === "WorkflowVersions"
            ? {
                workflow: {
                  id: "w1",
                  versions: {
                    nodes: [
                      { id: "v2", version: 2, note: "bigger", publishedAt: "2026-02-01T00:00:00Z" },
                      { id: "v1", version: 1, note: null, publishedAt: "2026-01-01T00:00:00Z" },
                    ],
                  },
                },
              }
            : { workflow: { id: "w1", version: { id: `v${vars.version}`, version: vars.version, definition: defs[vars.version!] } } };
        return makeResult(op, { data });
      }),
    );
}

function renderDialog() {
  const onClose = vi.fn();
  render(
    <Provider value={new Client({ url: "http://studio.test/graphql", exchanges: [server()] })}>
      <CompareVersions workflowId="w1" draft={draft} onClose={onClose} />
    </Provider>,
  );
  return onClose;
}

describe("compare versions", () => {
  it("compares the latest version with the draft first, then any two versions", async () => {
    const onClose = renderDialog();
    const dialog = screen.getByRole("dialog", { name: "Compare versions" });
    const result = screen.getByTestId("version-diff");
    // v2 → draft: two nodes and two edges gone.
    await waitFor(() => expect(within(result).getByRole("region", { name: "Nodes removed" }).textContent).toContain("call"));
    expect(within(result).getByRole("region", { name: "Nodes removed" }).textContent).toContain("done");
    expect(within(result).getByRole("region", { name: "Edges removed" }).textContent).toContain("call → done");

    fireEvent.change(within(dialog).getByLabelText("From"), { target: { value: "1" } });
    fireEvent.change(within(dialog).getByLabelText("To"), { target: { value: "2" } });
    await waitFor(() => expect(within(result).getByRole("region", { name: "Nodes added" }).textContent).toContain("done"));
    expect(within(result).getByRole("region", { name: "Nodes changed" }).textContent).toContain("config: method, url");
    expect(within(result).getByRole("region", { name: "Edges added" }).textContent).toContain("call → done");
    expect(within(result).queryByRole("region", { name: "Nodes removed" })).toBeNull();

    fireEvent.change(within(dialog).getByLabelText("To"), { target: { value: "1" } });
    expect(await within(result).findByText(/two different versions/)).toBeTruthy();
    fireEvent.keyDown(dialog, { key: "Escape" });
    expect(onClose).toHaveBeenCalled();
  });
});
