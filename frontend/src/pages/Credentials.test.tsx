import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { Provider } from "urql";
import { afterEach, describe, expect, it, vi } from "vitest";
import { mockClient } from "../test/mockGraphQL";
import { CredentialForm } from "./Credentials";

afterEach(cleanup);

function renderForm(errors: { path: string[]; message: string; code: string }[] = []) {
  const api = mockClient({
    CreateCredential: ({ input }) => ({
      createCredential: errors.length
        ? { credential: null, errors }
        : {
            credential: { id: "c1", name: input.name, kind: input.kind, allowedHosts: input.allowedHosts, createdAt: "2025-01-01T00:00:00Z" },
            errors: [],
          },
    }),
  });
  const onCreated = vi.fn();
  render(
    <Provider value={api.client}>
      <CredentialForm onCreated={onCreated} />
    </Provider>,
  );
  return { ...api, onCreated };
}

const form = () => screen.getByRole("form", { name: "New credential" });

function fill(label: string | RegExp, value: string) {
  fireEvent.change(within(form()).getByLabelText(label), { target: { value } });
}

describe("CredentialForm", () => {
  it.each([
    ["bearer", { Token: "tok en" }, { token: "tok en" }],
    ["basic", { Username: " ada ", Password: " pw " }, { username: "ada", password: " pw " }],
    ["header", { "Header name": "X-Token", "Header value": "v-1" }, { name: "X-Token", value: "v-1" }],
    ["openai", { "API key": "sk-1" }, { api_key: "sk-1" }],
    [
      "openai",
      { "API key": "sk-2", "Base URL (optional)": " https://llm.example.org/v1 ", "Organization (optional)": "org-9" },
      { api_key: "sk-2", base_url: "https://llm.example.org/v1", organization: "org-9" },
    ],
  ])("sends the %s kind's value and clears the form after saving", async (kind, typed, value) => {
    const api = renderForm();
    fill("Name", " my-cred ");
    fireEvent.change(within(form()).getByLabelText("Kind"), { target: { value: kind } });
    for (const [label, v] of Object.entries(typed)) fill(label, v);
    fill(/^Allowed hosts/, "api.example.org, *.example.org");
    fireEvent.click(within(form()).getByRole("button", { name: "Save credential" }));

    await waitFor(() => expect(api.onCreated).toHaveBeenCalledWith("my-cred"));
    expect(api.named("CreateCredential")[0]!.variables.input).toEqual({
      name: "my-cred",
      kind,
      value,
      allowedHosts: ["api.example.org", "*.example.org"],
    });
    // Nothing typed stays on the page; secrets were password inputs.
    for (const input of within(form()).getAllByRole("textbox")) expect((input as HTMLInputElement).value).toBe("");
    for (const input of form().querySelectorAll<HTMLInputElement>('input[type="password"]')) expect(input.value).toBe("");
    for (const v of Object.values(typed)) if (v.trim()) expect(document.body.innerHTML).not.toContain(v.trim());
  });

  it("uses password inputs for secrets and sends no hosts when none are given", async () => {
    const api = renderForm();
    expect(within(form()).getByLabelText("Token").getAttribute("type")).toBe("password");
    fireEvent.change(within(form()).getByLabelText("Kind"), { target: { value: "basic" } });
    expect(within(form()).getByLabelText("Username").getAttribute("type")).toBe("text");
    expect(within(form()).getByLabelText("Password").getAttribute("type")).toBe("password");
    fill("Name", "b");
    fill("Username", "u");
    fill("Password", "p");
    fireEvent.click(within(form()).getByRole("button", { name: "Save credential" }));
    await waitFor(() => expect(api.onCreated).toHaveBeenCalled());
    expect(api.named("CreateCredential")[0]!.variables.input.allowedHosts).toBeNull();
  });

  it("sends only the chosen kind's fields after switching kinds", async () => {
    const api = renderForm();
    fill("Name", "x");
    fill("Token", "left-behind");
    fireEvent.change(within(form()).getByLabelText("Kind"), { target: { value: "header" } });
    fireEvent.change(within(form()).getByLabelText("Kind"), { target: { value: "bearer" } });
    expect((within(form()).getByLabelText("Token") as HTMLInputElement).value).toBe("");
    fill("Token", "t");
    fireEvent.click(within(form()).getByRole("button", { name: "Save credential" }));
    await waitFor(() => expect(api.onCreated).toHaveBeenCalled());
    expect(api.named("CreateCredential")[0]!.variables.input.value).toEqual({ token: "t" });
  });

  it("shows each payload error next to its field and keeps the values to fix", async () => {
    const api = renderForm([
      { path: ["name"], message: "use 1 to 100 letters, digits", code: "INVALID" },
      { path: ["value", "token"], message: "token is not valid for a bearer credential (minLength)", code: "INVALID" },
      { path: ["allowedHosts", "0"], message: "give a host name like api.example.org", code: "INVALID" },
      { path: ["somewhere"], message: "something else", code: "X" },
    ]);
    fill("Name", "bad name");
    fill("Token", "x");
    fill(/^Allowed hosts/, "not a host");
    fireEvent.click(within(form()).getByRole("button", { name: "Save credential" }));
    await screen.findByText(/token is not valid/);
    const described = (label: string | RegExp) => {
      const input = within(form()).getByLabelText(label);
      expect(input.getAttribute("aria-invalid")).toBe("true");
      const ids = (input.getAttribute("aria-describedby") ?? "").split(" ");
      return ids.map((id) => document.getElementById(id)?.textContent ?? "").join(" ");
    };
    expect(described("Name")).toContain("use 1 to 100 letters");
    expect(described("Token")).toContain("token is not valid");
    expect(described(/^Allowed hosts/)).toContain("give a host name");
    expect(screen.getByRole("alert").textContent).toContain("something else");
    expect((within(form()).getByLabelText("Token") as HTMLInputElement).value).toBe("x");
    expect(api.onCreated).not.toHaveBeenCalled();
  });

  it("sends an SMTP server's settings: the port as a number, the chosen security, the password write-only", async () => {
    const api = renderForm();
    fill("Name", "mail");
    fireEvent.change(within(form()).getByLabelText("Kind"), { target: { value: "smtp" } });
    expect(within(form()).getByLabelText("Password (optional)").getAttribute("type")).toBe("password");
    expect((within(form()).getByLabelText("Security") as HTMLSelectElement).value).toBe("starttls");
    fill("Host", " smtp.example.org ");
    fill("Port (optional)", "465");
    fireEvent.change(within(form()).getByLabelText("Security"), { target: { value: "tls" } });
    fill("Username (optional)", "mailer");
    fill("Password (optional)", "s3cret pw");
    fill("From address", "studio@example.org");
    fireEvent.click(within(form()).getByRole("button", { name: "Save credential" }));
    await waitFor(() => expect(api.onCreated).toHaveBeenCalledWith("mail"));
    expect(api.named("CreateCredential")[0]!.variables.input).toEqual({
      name: "mail",
      kind: "smtp",
      value: { host: "smtp.example.org", port: 465, security: "tls", username: "mailer", password: "s3cret pw", from: "studio@example.org" },
      allowedHosts: null,
    });
    expect(document.body.innerHTML).not.toContain("s3cret pw");
  });

  it("sends an SMTP relay without authentication with the default security and port left to the server", async () => {
    const api = renderForm();
    fill("Name", "relay");
    fireEvent.change(within(form()).getByLabelText("Kind"), { target: { value: "smtp" } });
    fill("Host", "relay.internal");
    fill("From address", "noreply@example.org");
    fireEvent.click(within(form()).getByRole("button", { name: "Save credential" }));
    await waitFor(() => expect(api.onCreated).toHaveBeenCalled());
    expect(api.named("CreateCredential")[0]!.variables.input.value).toEqual({ host: "relay.internal", security: "starttls", from: "noreply@example.org" });
  });

  it("sends a PostgreSQL database's connection settings and shows the server's problem under its field", async () => {
    const api = renderForm([{ path: ["value", "host"], message: "host must be a host name or IP address", code: "INVALID" }]);
    fill("Name", "warehouse");
    fireEvent.change(within(form()).getByLabelText("Kind"), { target: { value: "postgres" } });
    expect(within(form()).getByLabelText("Password (optional)").getAttribute("type")).toBe("password");
    fill("Host", "db/evil");
    fill("Database", "sales");
    fill("User", "reader");
    fill("Password (optional)", "pw");
    fireEvent.change(within(form()).getByLabelText("TLS"), { target: { value: "verify-full" } });
    fireEvent.click(within(form()).getByRole("button", { name: "Save credential" }));
    await screen.findByText("host must be a host name or IP address");
    expect(api.named("CreateCredential")[0]!.variables.input.value).toEqual({
      host: "db/evil",
      database: "sales",
      user: "reader",
      password: "pw",
      sslmode: "verify-full",
    });
    expect(within(form()).getByLabelText("Host").getAttribute("aria-invalid")).toBe("true");
  });
});
