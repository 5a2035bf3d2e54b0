// Permission gating of the whole shell: `me { permissions }` decides which nav links, pages and controls exist.
import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { App } from "./App";
import { ROLE_PERMISSIONS, mockFetch } from "./test/mockGraphQL";

type RoleName = keyof typeof ROLE_PERMISSIONS;

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  localStorage.clear();
});

const WORKFLOW = {
  id: "w1",
  name: "Nightly report",
  archived: false,
  latestVersion: { version: 1 },
  webhooks: [
    { id: "h1", auth: "GITHUB", enabled: true, rateLimitPerMinute: null, replayWindowS: 7200, previousSecretExpiresAt: null, createdAt: "2025-01-01T00:00:00Z", url: "http://studio.test/hooks/h1" },
  ],
  schedules: [
    {
      id: "s1", cron: "0 9 * * 1-5", timezone: "Europe/Berlin", enabled: true, nextFireAt: "2025-06-02T07:00:00+00:00", overlap: "skip",
      catchUp: "skip", catchUpWindowS: null, jitterS: 0, input: null, lastFireAt: null, createdAt: "2025-01-01T00:00:00Z",
    },
  ],
};

function renderApp(role: RoleName, path: string) {
  const api = mockFetch({
    Me: () => ({
      me: { user: { id: "u1", email: "me@x.org" }, tenant: { id: "t1", name: "T" }, role, permissions: ROLE_PERMISSIONS[role] },
    }),
    Workflows: () => ({ workflows: { nodes: [{ id: "w1", name: "Nightly report", description: null, updatedAt: "2025-01-01T00:00:00Z", latestVersion: null }] } }),
    // Like the server: the webhooks only when asked for them (@include), which only trigger:manage does.
    WorkflowTriggers: (variables) => {
      const { webhooks, ...rest } = WORKFLOW;
      return { workflow: variables.withWebhooks ? { ...rest, webhooks } : rest };
    },
    Credentials: () => ({ credentials: [] }),
    Users: () => ({ users: { nodes: [], pageInfo: { hasNextPage: false, endCursor: null } } }),
    ApiKeys: () => ({ apiKeys: [] }),
    UpdateWebhook: () => ({ updateWebhook: { webhook: { id: "h1", enabled: true, rateLimitPerMinute: null, replayWindowS: 0 }, errors: [] } }),
  });
  vi.stubGlobal("fetch", api.fetch);
  localStorage.setItem("studio.token", "t");
  window.history.pushState({}, "", path);
  render(<App />);
  return api;
}

const navLinks = async () => {
  const nav = await screen.findByRole("navigation", { name: "Main" });
  return within(nav).getAllByRole("link").map((a) => a.textContent);
};

describe("admin navigation", () => {
  it.each(["VIEWER", "APPROVER", "OPERATOR", "EDITOR"] as const)("hides the admin links from a %s", async (role) => {
    renderApp(role, "/");
    expect(await navLinks()).toEqual(["Workflows", "Runs", "Approvals"]);
  });

  it("shows an admin the credentials, users, settings and audit links", async () => {
    renderApp("ADMIN", "/");
    expect(await navLinks()).toEqual(["Workflows", "Runs", "Approvals", "Credentials", "Users", "Settings", "Audit"]);
    expect((await screen.findByRole("link", { name: "Triggers of Nightly report" })).getAttribute("href")).toBe("/workflows/w1/triggers");
  });

  it("has no credentials page for an editor who types its URL", async () => {
    const api = renderApp("EDITOR", "/credentials");
    await screen.findByText(/Nothing here/);
    expect(api.named("Credentials")).toEqual([]);
  });

  it("has no settings page for an editor who types its URL", async () => {
    const api = renderApp("EDITOR", "/settings");
    await screen.findByText(/Nothing here/);
    expect(api.named("TenantSettings")).toEqual([]);
  });

  it("gives an admin the users and API keys sections", async () => {
    renderApp("ADMIN", "/users");
    expect(await screen.findByRole("heading", { name: "Users and API keys" })).toBeTruthy();
    expect(screen.getByRole("button", { name: "Add user" })).toBeTruthy();
    expect(screen.getByRole("button", { name: "Create API key" })).toBeTruthy();
  });
});

describe("triggers page", () => {
  it("shows a viewer the schedules, not the webhooks (a URL starts runs), and no control to change them", async () => {
    const api = renderApp("VIEWER", "/workflows/w1/triggers");
    await screen.findByRole("heading", { name: "Triggers of Nightly report" });
    expect(api.named("WorkflowTriggers").map((c) => c.variables.withWebhooks)).toEqual([false]);
    expect(screen.queryByText("http://studio.test/hooks/h1")).toBeNull();
    expect(screen.getByText(/Webhooks are shown to roles that manage triggers/)).toBeTruthy();
    expect(screen.getByText("At 09:00, Monday through Friday")).toBeTruthy();
    for (const name of [/Create webhook/, /Create schedule/, /Delete/, /Rotate/, /Disable/, /Pause/, /Edit/]) {
      expect(screen.queryByRole("button", { name })).toBeNull();
    }
    expect(screen.queryByLabelText("Cron expression")).toBeNull();
    // The nav offers the open workflow's triggers.
    expect(await navLinks()).toEqual(["Workflows", "Runs", "Approvals", "Triggers"]);
  });

  it("gives an editor the webhooks and every trigger control", async () => {
    renderApp("EDITOR", "/workflows/w1/triggers");
    await screen.findByRole("heading", { name: "Triggers of Nightly report" });
    expect(screen.getByText("http://studio.test/hooks/h1")).toBeTruthy();
    for (const name of ["Create webhook", "Create schedule", "Delete webhook 1", "Rotate secret of webhook 1", "Disable webhook 1", "Pause schedule 1", "Edit schedule 1", "Delete schedule 1"]) {
      expect(screen.getByRole("button", { name })).toBeTruthy();
    }
  });

  it("shows a webhook's replay window in hours and turns it off when emptied", async () => {
    const api = renderApp("EDITOR", "/workflows/w1/triggers");
    await screen.findByRole("heading", { name: "Triggers of Nightly report" });
    const form = screen.getByRole("form", { name: "Replay window of webhook 1" });
    const hours = within(form).getByLabelText(/Hours webhook 1 refuses a repeated delivery/) as HTMLInputElement;
    expect(hours.value).toBe("2");
    fireEvent.change(hours, { target: { value: "" } });
    fireEvent.click(within(form).getByRole("button", { name: "Save" }));
    await vi.waitFor(() => expect(api.named("UpdateWebhook")).toHaveLength(1));
    expect(api.named("UpdateWebhook")[0]?.variables).toEqual({ id: "h1", input: { replayWindowS: 0 } });
  });
});
