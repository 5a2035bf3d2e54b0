// Users page: disabling a user (behind a confirmation) and enabling one again with setUserActive.
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { Provider } from "urql";
import { afterEach, describe, expect, it } from "vitest";
import { ViewerProvider } from "../auth";
import { ROLE_PERMISSIONS, mockClient } from "../test/mockGraphQL";
import { UsersPage } from "./Users";

afterEach(cleanup);

interface FakeUser {
  id: string;
  email: string;
  role: string;
  active: boolean;
  createdAt: string;
  lastLoginAt: string | null;
}

const ME = { id: "u1", email: "admin@x.test" };

function renderPage({
  permissions = ROLE_PERMISSIONS.ADMIN,
  refuse = null,
  apiKeys = [],
}: {
  permissions?: string[];
  refuse?: { path: string[]; message: string; code: string } | null;
  apiKeys?: unknown[];
} = {}) {
  const users: FakeUser[] = [
    { id: "u1", email: ME.email, role: "ADMIN", active: true, createdAt: "2026-01-01T00:00:00Z", lastLoginAt: null },
    { id: "u2", email: "ada@x.test", role: "EDITOR", active: true, createdAt: "2026-01-01T00:00:00Z", lastLoginAt: null },
    { id: "u3", email: "bob@x.test", role: "VIEWER", active: false, createdAt: "2026-01-01T00:00:00Z", lastLoginAt: null },
  ];
  const api = mockClient({
    Me: () => ({ me: { user: ME, tenant: { id: "t1", name: "T" }, role: "ADMIN", permissions } }),
    Users: () => ({ users: { nodes: users.map((u) => ({ ...u })), pageInfo: { hasNextPage: false, endCursor: null } } }),
    ApiKeys: () => ({ apiKeys }),
    ResetUserPassword: ({ userId }) => {
      const user = users.find((u) => u.id === userId)!;
      return {
        resetUserPassword: {
          user: { ...user, mustChangePassword: true },
          temporaryPassword: "abcd-efgh-jkmn-pqrs",
          expiresAt: "2026-01-02T00:00:00Z",
          errors: [],
        },
      };
    },
    CreateUser: () => ({ createUser: { user: null, errors: [] } }),
    CreateApiKey: () => ({ createApiKey: { apiKey: null, key: null, errors: [] } }),
    SetUserActive: ({ userId, active }) => {
      if (refuse) return { setUserActive: { user: null, errors: [refuse] } };
      const user = users.find((u) => u.id === userId)!;
      user.active = active;
      return { setUserActive: { user: { id: user.id, active }, errors: [] } };
    },
  });
  render(
    <Provider value={api.client}>
      <ViewerProvider>
        <UsersPage />
      </ViewerProvider>
    </Provider>,
  );
  return api;
}

const usersTable = () => screen.findByRole("table", { name: "Users" });

describe("Users page: disable and enable", () => {
  it("disables another user after the confirmation and reloads the list", async () => {
    const api = renderPage();
    const table = await usersTable();
    await within(table).findByRole("rowheader", { name: "ada@x.test" });
    // Nobody may disable themselves: the own row has no button.
    expect(within(table).queryByRole("button", { name: `Disable user ${ME.email}` })).toBeNull();

    const button = within(table).getByRole("button", { name: "Disable user ada@x.test" });
    fireEvent.click(button);
    const dialog = screen.getByRole("alertdialog", { name: "Disable user ada@x.test?" });
    expect(document.activeElement?.textContent).toBe("Cancel"); // Enter never disables by accident
    expect(api.named("SetUserActive")).toHaveLength(0);

    const loads = api.named("Users").length;
    fireEvent.click(within(dialog).getByRole("button", { name: "Disable user" }));
    await waitFor(() => expect(screen.queryByRole("alertdialog")).toBeNull());
    expect(api.named("SetUserActive")[0]!.variables).toEqual({ userId: "u2", active: false });
    expect(screen.getAllByRole("status").some((s) => s.textContent?.includes("ada@x.test is disabled"))).toBe(true);
    await waitFor(() => expect(api.named("Users").length).toBeGreaterThan(loads));
    const enable = await within(await usersTable()).findByRole("button", { name: "Enable user ada@x.test" });
    expect(enable.closest("tr")!.textContent).toContain("disabled");
    await waitFor(() => expect(document.activeElement).toBe(enable)); // the focus follows the row
  });

  it("cancelling the confirmation changes nothing", async () => {
    const api = renderPage();
    fireEvent.click(await within(await usersTable()).findByRole("button", { name: "Disable user ada@x.test" }));
    fireEvent.click(within(screen.getByRole("alertdialog")).getByRole("button", { name: "Cancel" }));
    expect(screen.queryByRole("alertdialog")).toBeNull();
    expect(api.named("SetUserActive")).toHaveLength(0);
  });

  it("keeps the dialog open with the server's reason when it refuses", async () => {
    const api = renderPage({
      refuse: { path: ["userId"], message: "you cannot disable the last active admin", code: "CONFLICT" },
    });
    fireEvent.click(await within(await usersTable()).findByRole("button", { name: "Disable user ada@x.test" }));
    const dialog = screen.getByRole("alertdialog");
    fireEvent.click(within(dialog).getByRole("button", { name: "Disable user" }));
    expect((await within(dialog).findByRole("alert")).textContent).toContain("last active admin");
    expect(api.named("SetUserActive")).toHaveLength(1);
    expect(screen.getByRole("alertdialog")).toBeTruthy();
  });

  it("enables a disabled user at once, without a confirmation", async () => {
    const api = renderPage();
    fireEvent.click(await within(await usersTable()).findByRole("button", { name: "Enable user bob@x.test" }));
    expect(screen.queryByRole("alertdialog")).toBeNull();
    await waitFor(() => expect(api.named("SetUserActive")).toHaveLength(1));
    expect(api.named("SetUserActive")[0]!.variables).toEqual({ userId: "u3", active: true });
    await within(await usersTable()).findByRole("button", { name: "Disable user bob@x.test" });
  });

  it("shows no disable or enable controls without user:manage", async () => {
    renderPage({ permissions: [...ROLE_PERMISSIONS.VIEWER, "apikey:manage"] });
    await screen.findByRole("heading", { name: "API keys" });
    expect(screen.queryByRole("table", { name: "Users" })).toBeNull();
    expect(screen.queryByRole("button", { name: /^(Disable|Enable) user/ })).toBeNull();
  });
});

describe("Users page: API keys", () => {
  it("shows whom each key acts for and when it was last used", async () => {
    const key = { id: "k1", name: "ci", role: "EDITOR", createdAt: "2026-01-01T00:00:00Z", revoked: false };
    renderPage({
      apiKeys: [
        { ...key, lastUsedAt: "2026-01-02T00:00:00Z", createdBy: { id: "u2", email: "ada@x.test" } },
        { ...key, id: "k2", name: "orphan", lastUsedAt: null, createdBy: null },
      ],
    });
    const table = await screen.findByRole("table", { name: "API keys" });
    const ci = within(table).getByRole("rowheader", { name: "ci" }).closest("tr")!;
    expect(within(ci).getByText("ada@x.test")).toBeTruthy();
    expect(within(ci).queryByText("never")).toBeNull();
    const orphan = within(table).getByRole("rowheader", { name: "orphan" }).closest("tr")!;
    expect(within(orphan).getByText(/nobody/)).toBeTruthy();
    expect(within(orphan).getByText("never")).toBeTruthy();
  });
});

describe("Users page: API key expiry", () => {
  it("creates a key that expires in 90 days unless told otherwise, and lists expired keys as such", async () => {
    const key = { id: "k1", name: "old", role: "VIEWER", createdAt: "2026-01-01T00:00:00Z", revoked: false };
    const api = renderPage({
      apiKeys: [{ ...key, lastUsedAt: null, expiresAt: "2026-01-02T00:00:00Z", createdBy: { id: "u1", email: ME.email } }],
    });
    const table = await screen.findByRole("table", { name: "API keys" });
    const old = within(table).getByRole("rowheader", { name: "old" }).closest("tr")!;
    expect(within(old).getByText("expired")).toBeTruthy();
    expect(within(old).queryByRole("button", { name: /Revoke/ })).toBeNull();

    const form = screen.getByRole("form", { name: "Create an API key" });
    fireEvent.change(within(form).getByLabelText("Key name"), { target: { value: "ci" } });
    const before = Date.now();
    fireEvent.click(within(form).getByRole("button", { name: "Create API key" }));
    await waitFor(() => expect(api.named("CreateApiKey")).toHaveLength(1));
    const sent = api.named("CreateApiKey")[0]!.variables as { expiresAt: string };
    const days = (Date.parse(sent.expiresAt) - before) / 86_400_000;
    expect(days).toBeGreaterThan(89.9);
    expect(days).toBeLessThan(90.1);

    fireEvent.change(within(form).getByLabelText("Expires"), { target: { value: "" } });
    fireEvent.change(within(form).getByLabelText("Key name"), { target: { value: "forever" } });
    fireEvent.click(within(form).getByRole("button", { name: "Create API key" }));
    await waitFor(() => expect(api.named("CreateApiKey")).toHaveLength(2));
    expect((api.named("CreateApiKey")[1]!.variables as { expiresAt: string | null }).expiresAt).toBeNull();
  });
});

describe("Users page: passwords", () => {
  it("resets another user's password after a confirmation and shows the temporary one once", async () => {
    const api = renderPage();
    const table = await usersTable();
    await within(table).findByRole("rowheader", { name: "ada@x.test" });
    expect(within(table).queryByRole("button", { name: `Reset password of ${ME.email}` })).toBeNull(); // yours: the account menu
    fireEvent.click(within(table).getByRole("button", { name: "Reset password of ada@x.test" }));
    const confirm = screen.getByRole("alertdialog", { name: "Reset the password of ada@x.test?" });
    expect(confirm.textContent).toContain("signed out everywhere");
    expect(api.named("ResetUserPassword")).toHaveLength(0);
    fireEvent.click(within(confirm).getByRole("button", { name: "Reset password" }));
    const shown = await screen.findByRole("dialog", { name: "Temporary password for ada@x.test" });
    expect((within(shown).getByLabelText("Temporary password") as HTMLInputElement).value).toBe("abcd-efgh-jkmn-pqrs");
    expect(api.named("ResetUserPassword")[0]!.variables).toEqual({ userId: "u2" });
    fireEvent.click(within(shown).getByRole("button", { name: "Done, I stored it" }));
    await waitFor(() => expect(screen.queryByText("abcd-efgh-jkmn-pqrs")).toBeNull());
    expect(document.body.innerHTML).not.toContain("abcd-efgh-jkmn-pqrs"); // shown once: gone from the page
  });

  it("says what is missing instead of sending an empty user", async () => {
    const api = renderPage();
    const form = await screen.findByRole("form", { name: "Add a user" });
    fireEvent.click(within(form).getByRole("button", { name: "Add user" }));
    expect(within(form).getByText("Enter the new user's email.")).toBeTruthy();
    expect(within(form).getByText("Choose a password for them.")).toBeTruthy();
    expect(within(form).getByLabelText("Email").getAttribute("aria-invalid")).toBe("true");
    expect(document.activeElement).toBe(within(form).getByLabelText("Email"));
    fireEvent.change(within(form).getByLabelText("Email"), { target: { value: "new@x.test" } });
    fireEvent.change(within(form).getByLabelText("Password"), { target: { value: "short" } });
    fireEvent.click(within(form).getByRole("button", { name: "Add user" }));
    expect(await within(form).findByText("Use at least 8 characters (5 now).")).toBeTruthy();
    expect(api.named("CreateUser")).toHaveLength(0);
  });
});
