// The tenant's settings (ADMIN): the default error workflow, saved at once with setDefaultErrorWorkflow.
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { getOperationName, type Operation } from "urql";
import { afterEach, describe, expect, it } from "vitest";
import { answeringClient, ROLE_PERMISSIONS } from "../test/mockGraphQL";
import { renderPage } from "../test/renderPage";
import { SettingsPage } from "./Settings";

afterEach(cleanup);

function open(role: keyof typeof ROLE_PERMISSIONS) {
  const calls: Operation[] = [];
  const client = answeringClient(
    {
      Me: () => ({ me: { user: null, tenant: { id: "t", name: "Acme", slug: "acme" }, role, permissions: ROLE_PERMISSIONS[role] } }),
      TenantSettings: () => ({ me: { tenant: { id: "t", name: "Acme", slug: "acme", defaultErrorWorkflow: null } } }),
      ErrorWorkflowChoices: () => ({ workflows: { nodes: [{ id: "w8", name: "Page the team" }] } }),
      SetDefaultErrorWorkflow: (v: { errorWorkflowId: string | null }) => ({
        setDefaultErrorWorkflow: { tenant: { id: "t", defaultErrorWorkflow: v.errorWorkflowId ? { id: v.errorWorkflowId, name: "Page the team" } : null }, errors: [] },
      }),
    },
    calls,
  );
  renderPage(client, "/settings", "/settings", <SettingsPage />);
  return calls;
}

describe("settings page", () => {
  it("lets an admin pick the tenant's default error workflow", async () => {
    const calls = open("ADMIN");
    const select = (await screen.findByLabelText("Default error workflow")) as HTMLSelectElement;
    await waitFor(() => expect(select.options.length).toBe(2));
    fireEvent.change(select, { target: { value: "w8" } });
    await waitFor(() => expect(calls.filter((c) => getOperationName(c.query) === "SetDefaultErrorWorkflow")).toHaveLength(1));
    expect(calls.find((c) => getOperationName(c.query) === "SetDefaultErrorWorkflow")!.variables).toEqual({ errorWorkflowId: "w8" });
    expect(await screen.findByText("Saved.")).toBeTruthy();
  });

  it("is closed to an editor, who reads nothing of it", async () => {
    const calls = open("EDITOR");
    expect(await screen.findByText(/may not change the workspace's settings/)).toBeTruthy();
    expect(calls.filter((c) => getOperationName(c.query) === "TenantSettings")).toHaveLength(0);
  });
});
