// The tenant's settings (ADMIN): the default error workflow, saved at once with setDefaultErrorWorkflow.
import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { getOperationName, type Operation } from "urql";
import { afterEach, describe, expect, it } from "vitest";
import { answeringClient, ROLE_PERMISSIONS } from "../test/mockGraphQL";
import { renderPage } from "../test/renderPage";
import { SettingsPage } from "./Settings";

afterEach(cleanup);

const STORED = {
  issuer: "https://login.example.org",
  clientId: "studio",
  clientSecretSet: true,
  jitRole: null,
  groupsClaim: "groups",
  groupRoles: [{ group: "ops", role: "OPERATOR" }],
  allowedDomains: ["example.org"],
  redirectUri: "https://studio.example.org/auth/oidc/callback",
};

function open(role: keyof typeof ROLE_PERMISSIONS, oidcConfig: unknown = null) {
  const calls: Operation[] = [];
  const client = answeringClient(
    {
      Me: () => ({ me: { user: null, tenant: { id: "t", name: "Acme", slug: "acme" }, role, permissions: ROLE_PERMISSIONS[role] } }),
      TenantSettings: () => ({ me: { tenant: { id: "t", name: "Acme", slug: "acme", defaultErrorWorkflow: null } } }),
      OidcConfig: () => ({ oidcConfig }),
      SetOidcConfig: (v: { input: Record<string, unknown> }) =>
        v.input.issuer === "ftp://nope"
          ? { setOidcConfig: { oidcConfig: null, errors: [{ path: ["input", "issuer"], message: "the issuer is the provider's https:// URL", code: "BAD_USER_INPUT" }] } }
          : { setOidcConfig: { oidcConfig: { ...STORED, ...v.input, clientSecretSet: true }, errors: [] } },
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

describe("single sign-on settings", () => {
  it("shows the stored configuration without its secret and keeps the secret when the field is left empty", async () => {
    const calls = open("ADMIN", STORED);
    const form = await screen.findByRole("form", { name: "Single sign-on" });
    await waitFor(() => expect((within(form).getByLabelText("Issuer URL") as HTMLInputElement).value).toBe(STORED.issuer));
    expect(form.textContent).toContain(STORED.redirectUri);
    const secret = within(form).getByLabelText("Client secret") as HTMLInputElement;
    expect(secret.type).toBe("password");
    expect(secret.value).toBe("");
    expect(secret.placeholder).toMatch(/leave empty to keep/);
    expect((within(form).getByLabelText(/Groups to roles/) as HTMLTextAreaElement).value).toBe("ops = OPERATOR");
    fireEvent.change(within(form).getByLabelText("Unknown emails"), { target: { value: "VIEWER" } });
    fireEvent.click(within(form).getByRole("button", { name: "Save single sign-on" }));
    await waitFor(() => expect(calls.filter((c) => getOperationName(c.query) === "SetOidcConfig")).toHaveLength(1));
    const sent = calls.find((c) => getOperationName(c.query) === "SetOidcConfig")!.variables as { input: Record<string, unknown> };
    expect(sent.input).toEqual({
      issuer: STORED.issuer,
      clientId: "studio",
      clientSecret: null,
      jitRole: "VIEWER",
      groupsClaim: "groups",
      groupRoles: [{ group: "ops", role: "OPERATOR" }],
      allowedDomains: ["example.org"],
    });
    expect(await within(form).findByText("Single sign-on saved.")).toBeTruthy();
  });

  it("says what to fix: a bad mapping line before sending, the server's refusal next to its field", async () => {
    const calls = open("ADMIN");
    const form = await screen.findByRole("form", { name: "Single sign-on" });
    fireEvent.change(within(form).getByLabelText("Issuer URL"), { target: { value: "ftp://nope" } });
    fireEvent.change(within(form).getByLabelText(/Groups to roles/), { target: { value: "ops = CAPTAIN" } });
    fireEvent.click(within(form).getByRole("button", { name: "Save single sign-on" }));
    expect(await within(form).findByText(/Write each mapping/)).toBeTruthy();
    expect(calls.filter((c) => getOperationName(c.query) === "SetOidcConfig")).toHaveLength(0);
    fireEvent.change(within(form).getByLabelText(/Groups to roles/), { target: { value: "" } });
    fireEvent.click(within(form).getByRole("button", { name: "Save single sign-on" }));
    expect(await within(form).findByText("the issuer is the provider's https:// URL")).toBeTruthy();
  });
});
