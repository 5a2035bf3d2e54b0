import { act, renderHook } from "@testing-library/react";
import type { ReactNode } from "react";
import { getOperationName, Provider, type Operation } from "urql";
import { describe, expect, it, vi } from "vitest";
import approveLargeOrders from "../../../studio_shared/examples/approve_large_orders.json";
import type { UserError, WorkflowDetail } from "../api/types";
import type { Definition } from "../lib/definition";
import { mapUserErrors } from "../lib/errors";
import { answeringClient } from "../test/mockGraphQL";
import type { Notice } from "./notice";
import { useDraft } from "./useDraft";

const opened = approveLargeOrders.definition as Definition;
const edited: Definition = { ...opened, nodes: opened.nodes.map((n) => (n.id === "check" ? { ...n, config: {} } : n)) };
const workflow = { id: "w1", name: "Orders", description: null, draft: opened, revision: 3, latestVersion: { version: 2 } } as WorkflowDetail;
const URL_PROBLEM: UserError = { path: ["definition", "nodes", "3", "config", "url"], message: "not a URL", code: "INVALID_CONFIG" };

function setup(answers: Record<string, (variables: never) => unknown>) {
  const calls: Operation[] = [];
  const client = answeringClient(answers, calls);
  const notices: Notice[] = [];
  const showProblems = vi.fn((errors: readonly UserError[], def: Definition) => mapUserErrors(errors, def));
  const wrapper = ({ children }: { children: ReactNode }) => <Provider value={client}>{children}</Provider>;
  const hook = renderHook(
    ({ definition }: { definition: Definition }) =>
      useDraft({ workflow, definition, fullKey: JSON.stringify(definition), showProblems, notify: (n) => notices.push(n) }),
    { wrapper, initialProps: { definition: opened } },
  );
  const sent = () => calls.filter((op) => op.kind === "mutation").map((op) => [getOperationName(op.query), op.variables]);
  return { ...hook, notices, showProblems, sent };
}

describe("useDraft", () => {
  it("saves the canvas with the revision it was opened at, then is saved at the new one", async () => {
    const { result, rerender, notices, sent } = setup({
      UpdateWorkflow: () => ({ updateWorkflow: { workflow: { id: "w1", draft: edited, revision: 4 }, errors: [] } }),
    });
    expect(result.current).toMatchObject({ revision: 3, latestVersion: 2, dirty: false });
    rerender({ definition: edited });
    expect(result.current.dirty).toBe(true);
    await act(async () => expect(await result.current.save()).toBe(true));
    expect(sent()).toEqual([["UpdateWorkflow", { id: "w1", input: { definition: edited, expectedRevision: 3 } }]]);
    expect(result.current).toMatchObject({ revision: 4, dirty: false });
    expect(notices).toEqual([{ kind: "ok", text: "Draft saved." }]);
    // Going back to what was opened is a change again: saved means equal to the last save.
    rerender({ definition: opened });
    expect(result.current.dirty).toBe(true);
  });

  it("saves a draft with template errors, shows them and says they block publishing", async () => {
    const filter: UserError = { path: ["nodes", "1", "config", "expression"], message: "unknown filter 'x' at 9", code: "UNKNOWN_FILTER", severity: "ERROR" };
    const warning: UserError = { ...filter, message: "field 'y' is not declared at 9", code: "UNDECLARED_FIELD", severity: "WARNING" };
    let problems = [filter, warning];
    const { result, rerender, notices, showProblems } = setup({
      UpdateWorkflow: () => ({ updateWorkflow: { workflow: { id: "w1", draft: edited, revision: 4 }, errors: [], problems } }),
    });
    rerender({ definition: edited });
    await act(async () => expect(await result.current.save()).toBe(true));
    expect(result.current).toMatchObject({ revision: 4, dirty: false });
    expect(showProblems).toHaveBeenCalledWith([filter, warning], edited);
    expect(notices).toEqual([{ kind: "error", text: "Draft saved, with 1 error(s) that block publishing. See the marked nodes." }]);
    problems = [warning]; // warnings alone: an ordinary save
    rerender({ definition: opened });
    await act(async () => expect(await result.current.save()).toBe(true));
    expect(notices.at(-1)).toEqual({ kind: "ok", text: "Draft saved." });
  });

  it("shows the problems of a refused save and keeps the changes unsaved", async () => {
    const { result, rerender, notices, showProblems } = setup({
      UpdateWorkflow: () => ({ updateWorkflow: { workflow: null, errors: [URL_PROBLEM] } }),
    });
    rerender({ definition: edited });
    await act(async () => expect(await result.current.save()).toBe(false));
    expect(showProblems).toHaveBeenCalledWith([URL_PROBLEM], edited);
    expect(notices).toEqual([{ kind: "error", text: "Not saved: 1 problem(s). See the marked nodes." }]);
    expect(result.current).toMatchObject({ revision: 3, dirty: true });
  });

  it("names a problem of the whole workflow in the notice, and says when the server gave no answer", async () => {
    const general: UserError = { path: ["expectedRevision"], message: "The draft changed since revision 3", code: "CONFLICT" };
    const first = setup({ UpdateWorkflow: () => ({ updateWorkflow: { workflow: null, errors: [general] } }) });
    await act(async () => void (await first.result.current.save()));
    expect(first.notices).toEqual([{ kind: "error", text: "Not saved: 1 problem(s). The draft changed since revision 3" }]);
    const second = setup({});
    await act(async () => void (await second.result.current.save()));
    expect(second.notices).toEqual([{ kind: "error", text: "Saving failed." }]);
  });

  it("saves unsaved changes before publishing, with the note", async () => {
    const { result, rerender, notices, sent } = setup({
      UpdateWorkflow: () => ({ updateWorkflow: { workflow: { id: "w1", draft: edited, revision: 4 }, errors: [] } }),
      Publish: () => ({ publishWorkflow: { version: { id: "v3", version: 3, note: "bigger", publishedAt: "" }, errors: [] } }),
    });
    rerender({ definition: edited });
    await act(async () => expect(await result.current.publish("bigger")).toBe(true));
    expect(sent().map(([name]) => name)).toEqual(["UpdateWorkflow", "Publish"]);
    expect(sent()[1]![1]).toEqual({ id: "w1", note: "bigger" });
    expect(result.current).toMatchObject({ latestVersion: 3, dirty: false, revision: 4 });
    expect(notices.at(-1)).toEqual({ kind: "ok", text: "Published version 3." });
  });

  it("publishes a saved draft without saving it again, an empty note as none", async () => {
    const { result, sent } = setup({
      Publish: () => ({ publishWorkflow: { version: { id: "v3", version: 3, note: null, publishedAt: "" }, errors: [] } }),
    });
    await act(async () => void (await result.current.publish("")));
    expect(sent()).toEqual([["Publish", { id: "w1", note: null }]]);
  });

  it("does not publish when the save before it is refused, and says why a refused publish failed", async () => {
    const refusedSave = setup({
      UpdateWorkflow: () => ({ updateWorkflow: { workflow: null, errors: [URL_PROBLEM] } }),
      Publish: () => ({ publishWorkflow: { version: { id: "v3", version: 3, note: null, publishedAt: "" }, errors: [] } }),
    });
    refusedSave.rerender({ definition: edited });
    await act(async () => expect(await refusedSave.result.current.publish("x")).toBe(false));
    expect(refusedSave.sent().map(([name]) => name)).toEqual(["UpdateWorkflow"]);
    expect(refusedSave.result.current.latestVersion).toBe(2);

    const refused = setup({ Publish: () => ({ publishWorkflow: { version: null, errors: [URL_PROBLEM] } }) });
    await act(async () => expect(await refused.result.current.publish("x")).toBe(false));
    expect(refused.showProblems).toHaveBeenCalledWith([URL_PROBLEM], opened);
    expect(refused.notices).toEqual([{ kind: "error", text: "Not published: not a URL" }]);
    expect(refused.result.current.latestVersion).toBe(2);
  });
});
