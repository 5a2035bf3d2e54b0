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
