// The builder's workflow settings: the error workflow picker (none, or a workflow of the tenant), saved at once with
// setErrorWorkflow; the tenant's default named in "none"; the server's refusal said under the field.
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { getOperationName, type Operation } from "urql";
import { afterEach, describe, expect, it } from "vitest";
import { answeringClient, ROLE_PERMISSIONS } from "../test/mockGraphQL";
import { renderPage } from "../test/renderPage";
import { WorkflowPanel } from "./WorkflowPanel";

afterEach(cleanup);

type Role = keyof typeof ROLE_PERMISSIONS;

function open(role: Role, current: { id: string; name: string } | null, setAnswer: (v: Record<string, unknown>) => unknown) {
  const calls: Operation[] = [];
  const client = answeringClient(
    {
      Me: () => ({ me: { user: null, tenant: { id: "t", name: "T" }, role, permissions: ROLE_PERMISSIONS[role] } }),
      WorkflowErrorSetting: () => ({
        workflow: { id: "w1", errorWorkflow: current },
        me: { tenant: { id: "t", defaultErrorWorkflow: { id: "w8", name: "Page the team" } } },
      }),
      ErrorWorkflowChoices: () => ({
        workflows: {
          nodes: [
            { id: "w1", name: "Orders" },
            { id: "w8", name: "Page the team" },
            { id: "w9", name: "Alert on-call" },
          ],
        },
      }),
      WorkflowRuns: () => ({ runs: { nodes: [] } }),
      SetErrorWorkflow: (v: Record<string, unknown>) => setAnswer(v),
    },
    calls,
  );
  renderPage(client, "/workflows/:id", "/workflows/w1", <WorkflowPanel workflowId="w1" />);
  return calls;
}

const named = (calls: Operation[], name: string) => calls.filter((c) => getOperationName(c.query) === name);

const saved = (v: Record<string, unknown>) => ({
  setErrorWorkflow: { workflow: { id: "w1", errorWorkflow: v.errorWorkflowId ? { id: v.errorWorkflowId, name: "Alert on-call" } : null }, errors: [] },
});

describe("the error workflow setting", () => {
  it("offers none (naming the tenant's default) and the tenant's workflows, and saves a choice at once", async () => {
    const calls = open("EDITOR", null, saved);
    const select = (await screen.findByLabelText("Error workflow")) as HTMLSelectElement;
    await waitFor(() => expect(select.options.length).toBe(4));
    expect([...select.options].map((o) => o.text)).toEqual(["None (the tenant's default: Page the team)", "Orders", "Page the team", "Alert on-call"]);
    expect(select.value).toBe("");
    fireEvent.change(select, { target: { value: "w9" } });
    await waitFor(() => expect(named(calls, "SetErrorWorkflow")).toHaveLength(1));
    expect(named(calls, "SetErrorWorkflow")[0]!.variables).toEqual({ workflowId: "w1", errorWorkflowId: "w9" });
    expect(await screen.findByText("Saved.")).toBeTruthy();
    expect(select.value).toBe("w9");
  });

  it("clears it with none (null)", async () => {
    const calls = open("EDITOR", { id: "w9", name: "Alert on-call" }, saved);
    const select = (await screen.findByLabelText("Error workflow")) as HTMLSelectElement;
    await waitFor(() => expect(select.value).toBe("w9"));
    fireEvent.change(select, { target: { value: "" } });
    await waitFor(() => expect(named(calls, "SetErrorWorkflow")).toHaveLength(1));
    expect(named(calls, "SetErrorWorkflow")[0]!.variables).toEqual({ workflowId: "w1", errorWorkflowId: null });
  });

  it("says why the server refused a choice and keeps the saved one", async () => {
    open("EDITOR", null, () => ({
      setErrorWorkflow: {
        workflow: null,
        errors: [{ path: ["errorWorkflowId"], message: "the workflow Alert on-call is archived", code: "INVALID", severity: "ERROR" }],
      },
    }));
    const select = (await screen.findByLabelText("Error workflow")) as HTMLSelectElement;
    await waitFor(() => expect(select.options.length).toBe(4));
    fireEvent.change(select, { target: { value: "w9" } });
    expect(await screen.findByText("the workflow Alert on-call is archived")).toBeTruthy();
    expect(select.value).toBe("");
    expect(select.getAttribute("aria-invalid")).toBe("true");
  });

  it("shows an operator the setting as a link, with no control", async () => {
    const calls = open("OPERATOR", { id: "w9", name: "Alert on-call" }, saved);
    const current = await screen.findByTestId("error-workflow-current");
    expect(current.querySelector("a")?.getAttribute("href")).toBe("/workflows/w9");
    expect(screen.queryByRole("combobox")).toBeNull();
    expect(named(calls, "ErrorWorkflowChoices")).toHaveLength(0);
  });
});
