// The session: a renewed token (a changed password hands one back) keeps the API client, so nothing on the page
// is dropped, and `me` is read again with it; a logout starts a new client, so nothing cached for one user is shown
// to the next.
import { act, cleanup, render, screen, waitFor } from "@testing-library/react";
import { useClient } from "urql";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SessionProvider, ViewerProvider, useRefreshViewer, useSession, useViewer } from "./auth";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  localStorage.clear();
});

const sentTokens: string[] = [];
function serve() {
  sentTokens.length = 0;
  vi.stubGlobal(
    "fetch",
    vi.fn(async (_url: RequestInfo | URL, init?: RequestInit) => {
      const token = String(new Headers(init?.headers).get("authorization") ?? "").replace("Bearer ", "");
      sentTokens.push(token);
      const me = {
        user: { id: "u1", email: "ada@x.test", mustChangePassword: token === "temporary" },
        tenant: { id: "t1", name: "T", slug: "t" },
        role: "EDITOR",
        permissions: [],
      };
      return new Response(JSON.stringify({ data: { me } }), { status: 200, headers: { "content-type": "application/json" } });
    }),
  );
}

const clients: unknown[] = [];
function Probe() {
  const viewer = useViewer();
  const { login, logout } = useSession();
  const refresh = useRefreshViewer();
  clients.push(useClient());
  return (
    <div>
      <p>{viewer.user?.mustChangePassword ? "must change" : "free"}</p>
      <button
        type="button"
        onClick={() => {
          login("renewed");
          refresh();
        }}
      >
        renew
      </button>
      <button type="button" onClick={logout}>
        out
      </button>
    </div>
  );
}

describe("session", () => {
  it("carries on with a renewed token: same client, `me` read again with the new token", async () => {
    serve();
    localStorage.setItem("studio.token", "temporary");
    render(
      <SessionProvider>
        <ViewerProvider>
          <Probe />
        </ViewerProvider>
      </SessionProvider>,
    );
    expect(await screen.findByText("must change")).toBeTruthy();
    const before = clients.at(-1);
    act(() => screen.getByRole("button", { name: "renew" }).click());
    expect(await screen.findByText("free")).toBeTruthy();
    expect(clients.at(-1)).toBe(before); // nothing below the session was rebuilt
    expect(sentTokens).toEqual(["temporary", "renewed"]);
    expect(localStorage.getItem("studio.token")).toBe("renewed");
  });

  it("starts a new client at logout", async () => {
    serve();
    localStorage.setItem("studio.token", "t");
    let client: unknown;
    function Outer() {
      client = useClient();
      const { token } = useSession();
      return token ? (
        <ViewerProvider>
          <Probe />
        </ViewerProvider>
      ) : (
        <p>signed out</p>
      );
    }
    render(
      <SessionProvider>
        <Outer />
      </SessionProvider>,
    );
    await screen.findByText("free");
    const first = client;
    act(() => screen.getByRole("button", { name: "out" }).click());
    await screen.findByText("signed out");
    await waitFor(() => expect(client).not.toBe(first));
    expect(localStorage.getItem("studio.token")).toBeNull();
  });
});
