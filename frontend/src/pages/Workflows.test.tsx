// The workflows page: creating says what is wrong instead of doing nothing; long names are cut short, whole on hover.
import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { ROLE_PERMISSIONS, mockClient } from "../test/mockGraphQL";
import { renderPage } from "../test/renderPage";
import { WorkflowsPage } from "./Workflows";

afterEach(cleanup);

const LONG = "A workflow whose name goes on and on ".repeat(6).trim();

function setup(list: { id: string; name: string }[] = []) {
  const api = mockClient({
    Me: () => ({ me: { user: { id: "u1", email: "e@x.test", mustChangePassword: false }, tenant: { id: "t", name: "T", slug: "t" }, role: "EDITOR", permissions: ROLE_PERMISSIONS.EDITOR } }),
    Workflows: () => ({
      workflows: { nodes: list.map((w) => ({ ...w, description: null, updatedAt: "2026-01-01T00:00:00Z", latestVersion: null })) },
    }),
    CreateWorkflow: ({ input }) => ({ createWorkflow: { workflow: { id: "w9", name: input.name }, errors: [] } }),
  });
  renderPage(api.client, "/", "/", <WorkflowsPage />);
  return api;
}

describe("workflows page", () => {
  it("says a name is needed instead of doing nothing, and sends nothing", async () => {
    const api = setup();
    const form = await screen.findByRole("form", { name: "Create a workflow" });
    fireEvent.click(within(form).getByRole("button", { name: "Create" }));
    expect(within(form).getByText("Enter a name for the new workflow.")).toBeTruthy();
    const field = within(form).getByLabelText("New workflow");
    expect(field.getAttribute("aria-invalid")).toBe("true");
    expect(document.activeElement).toBe(field);
    fireEvent.change(field, { target: { value: "   " } });
    fireEvent.click(within(form).getByRole("button", { name: "Create" }));
    expect(within(form).getByText("Enter a name with at least one letter or digit.")).toBeTruthy();
    expect(api.named("CreateWorkflow")).toHaveLength(0);
    fireEvent.change(field, { target: { value: "  Nightly report " } });
    fireEvent.click(within(form).getByRole("button", { name: "Create" }));
    await waitFor(() => expect(api.named("CreateWorkflow")[0]?.variables.input.name).toBe("Nightly report"));
  });

  it("shows an empty state, and long names cut short with the whole name on hover", async () => {
    setup();
    expect(await screen.findByText("No workflows yet")).toBeTruthy();
    cleanup();
    setup([{ id: "w1", name: LONG }]);
    const link = await screen.findByRole("link", { name: LONG });
    expect(link.getAttribute("title")).toBe(LONG);
    expect(link.className).toContain("truncate");
  });
});
