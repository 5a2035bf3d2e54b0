// Login: the optional workspace is sent as `tenant`, and a refusal after repeated failures says when to retry.
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SessionProvider } from "../auth";
import { LoginPage } from "./Login";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  localStorage.clear();
});

function answering(body: unknown) {
  const sent: Record<string, unknown>[] = [];
  const fetch = vi.fn(async (_url: RequestInfo | URL, init?: RequestInit) => {
    sent.push((JSON.parse(String(init?.body ?? "{}")) as { variables: Record<string, unknown> }).variables);
    return new Response(JSON.stringify(body), { headers: { "content-type": "application/json" } });
  });
  vi.stubGlobal("fetch", fetch);
  render(
    <SessionProvider>
      <LoginPage />
    </SessionProvider>,
  );
  return sent;
}

function signIn(email: string, password: string, workspace?: string) {
  fireEvent.change(screen.getByLabelText("Email"), { target: { value: email } });
  fireEvent.change(screen.getByLabelText("Password"), { target: { value: password } });
  if (workspace !== undefined) fireEvent.change(screen.getByLabelText(/Workspace/), { target: { value: workspace } });
  fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
}

describe("login", () => {
  it("sends the workspace only when one is given", async () => {
    const failed = { data: { login: { token: null, errors: [{ path: ["password"], message: "unknown email or wrong password", code: "INVALID_CREDENTIALS" }] } } };
    const sent = answering(failed);
    signIn("ada@x.test", "pw");
    expect(await screen.findByText("unknown email or wrong password")).toBeTruthy();
    signIn("ada@x.test", "pw", " acme ");
    await vi.waitFor(() => expect(sent).toHaveLength(2));
    expect(sent.map((v) => v.tenant)).toEqual([null, "acme"]);
  });

  it("says when to try again after too many failures", async () => {
    answering({
      data: null,
      errors: [{ message: "too many failed sign-ins: try again in 4 s", path: ["login"], extensions: { code: "RATE_LIMITED", retryAfterS: 4 } }],
    });
    signIn("ada@x.test", "pw");
    expect(await screen.findByText("too many failed sign-ins: try again in 4 s")).toBeTruthy();
  });
});

function answeringByOperation(bodies: Record<string, unknown>) {
  const sent: { operationName: string; variables: Record<string, unknown> }[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (_url: RequestInfo | URL, init?: RequestInit) => {
      const request = JSON.parse(String(init?.body ?? "{}")) as { query: string; variables: Record<string, unknown> };
      const operationName = /(?:query|mutation)\s+(\w+)/.exec(request.query)?.[1] ?? "";
      sent.push({ operationName, variables: request.variables });
      return new Response(JSON.stringify(bodies[operationName] ?? { data: null }), {
        headers: { "content-type": "application/json" },
      });
    }),
  );
  render(
    <SessionProvider>
      <LoginPage />
    </SessionProvider>,
  );
  return sent;
}

describe("single sign-on", () => {
  afterEach(() => window.history.replaceState(null, "", "/"));

  it("offers SSO once a workspace that has it is entered", async () => {
    const sent = answeringByOperation({
      SingleSignOn: { data: { singleSignOn: { loginUrl: "/auth/oidc/acme/login" } } },
    });
    expect(screen.queryByRole("link", { name: "Sign in with SSO" })).toBeNull();
    const workspace = screen.getByLabelText(/Workspace/);
    fireEvent.change(workspace, { target: { value: " Acme " } });
    expect(sent).toHaveLength(0); // not asked per keystroke
    fireEvent.blur(workspace);
    const link = await screen.findByRole("link", { name: "Sign in with SSO" });
    expect(link.getAttribute("href")).toBe("/auth/oidc/acme/login");
    expect(sent.map((s) => [s.operationName, s.variables.tenant])).toEqual([["SingleSignOn", "acme"]]);
  });

  it("offers nothing for a workspace without SSO", async () => {
    const sent = answeringByOperation({ SingleSignOn: { data: { singleSignOn: null } } });
    const workspace = screen.getByLabelText(/Workspace/);
    fireEvent.change(workspace, { target: { value: "plain" } });
    fireEvent.blur(workspace);
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    expect(screen.queryByRole("link", { name: "Sign in with SSO" })).toBeNull();
  });

  it("exchanges the one-time code from the provider's return for the session token, once", async () => {
    window.history.replaceState(null, "", "/login#sso_code=one-time-code");
    const sent = answeringByOperation({
      ExchangeSignInCode: { data: { exchangeSignInCode: { token: "session-token", errors: [] } } },
    });
    await vi.waitFor(() => expect(localStorage.getItem("studio.token")).toBe("session-token"));
    expect(sent.filter((s) => s.operationName === "ExchangeSignInCode").map((s) => s.variables)).toEqual([{ code: "one-time-code" }]);
    expect(window.location.hash).toBe(""); // the code leaves the address bar at once
  });

  it("says why when the code no longer works", async () => {
    window.history.replaceState(null, "", "/login#sso_code=used");
    answeringByOperation({
      ExchangeSignInCode: {
        data: { exchangeSignInCode: { token: null, errors: [{ path: ["code"], message: "this sign-in code is unknown, used or expired", code: "INVALID_CODE" }] } },
      },
    });
    expect(await screen.findByText("this sign-in code is unknown, used or expired")).toBeTruthy();
  });
});
