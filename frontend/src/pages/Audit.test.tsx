// The audit page (ADMIN): filters become auditLog's filter, "Load more" pages on with the cursor, and the export
// downloads the chosen range with the session's token; other roles read nothing of it.
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { getOperationName, type Operation } from "urql";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { answeringClient, ROLE_PERMISSIONS } from "../test/mockGraphQL";
import { renderPage } from "../test/renderPage";
import { AuditPage, exportUrl, toAuditFilter } from "./Audit";

beforeEach(() => localStorage.setItem("studio.token", "admin-token"));
afterEach(() => {
  cleanup();
  localStorage.clear();
  vi.unstubAllGlobals();
});

function entry(n: number) {
  return {
    id: String(n),
    actor: n % 2 ? "user:ada" : "user:bob",
    action: "workflow.publish",
    targetKind: "workflow",
    targetId: `w${n}`,
    data: { version: n },
    at: `2026-03-01T12:${String(n).padStart(2, "0")}:00Z`,
  };
}

function open(role: keyof typeof ROLE_PERMISSIONS) {
  const calls: Operation[] = [];
  const client = answeringClient(
    {
      Me: () => ({ me: { user: null, tenant: { id: "t", name: "Acme", slug: "acme" }, role, permissions: ROLE_PERMISSIONS[role] } }),
      AuditLog: (v: { after: string | null }) =>
        v.after === "c1"
          ? { auditLog: { nodes: [entry(3)], pageInfo: { hasNextPage: false, endCursor: "c2" } } }
          : { auditLog: { nodes: [entry(1), entry(2)], pageInfo: { hasNextPage: true, endCursor: "c1" } } },
    },
    calls,
  );
  renderPage(client, "/audit", "/audit", <AuditPage />);
  const audits = () => calls.filter((c) => getOperationName(c.query) === "AuditLog");
  return { audits };
}

describe("audit page", () => {
  it("lists entries and loads more with the cursor", async () => {
    const { audits } = open("ADMIN");
    await waitFor(() => expect(screen.getAllByTestId("audit-row")).toHaveLength(2));
    expect(screen.getByText("workflow w1")).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Load more" }));
    await waitFor(() => expect(screen.getAllByTestId("audit-row")).toHaveLength(3));
    expect(audits().at(-1)!.variables).toMatchObject({ after: "c1", filter: {} });
    expect(screen.queryByRole("button", { name: "Load more" })).toBeNull();
  });

  it("sends the filters as auditLog's filter, from the first page again", async () => {
    const { audits } = open("ADMIN");
    await waitFor(() => expect(screen.getAllByTestId("audit-row")).toHaveLength(2));
    fireEvent.change(screen.getByLabelText("Actor"), { target: { value: " user:bob " } });
    fireEvent.change(screen.getByLabelText("Action"), { target: { value: "workflow.publish" } });
    fireEvent.change(screen.getByLabelText("Resource type"), { target: { value: "workflow" } });
    fireEvent.change(screen.getByLabelText("From"), { target: { value: "2026-03-01T00:00" } });
    fireEvent.click(screen.getByRole("button", { name: "Apply" }));
    await waitFor(() => expect(audits().length).toBeGreaterThan(1));
    const last = audits().at(-1)!.variables as { filter: Record<string, string>; after: string | null };
    expect(last.after).toBeNull();
    expect(last.filter).toEqual({
      actor: "user:bob",
      action: "workflow.publish",
      resourceType: "workflow",
      since: new Date("2026-03-01T00:00").toISOString(),
    });
  });

  it("exports the range with the session's token, and says what the server refused", async () => {
    open("ADMIN");
    await waitFor(() => expect(screen.getAllByTestId("audit-row")).toHaveLength(2));
    const download = screen.getByRole("button", { name: "Download export" }) as HTMLButtonElement;
    expect(download.disabled).toBe(true); // no range yet
    const fetch = vi.fn(async () =>
      new Response(JSON.stringify({ error: "too_many_rows", message: "more than 100000 entries match: export a shorter range" }), {
        status: 400,
        headers: { "content-type": "application/json" },
      }),
    );
    vi.stubGlobal("fetch", fetch);
    fireEvent.change(screen.getByLabelText("From"), { target: { value: "2026-03-01T00:00" } });
    fireEvent.change(screen.getByLabelText("Until"), { target: { value: "2026-03-02T00:00" } });
    fireEvent.change(screen.getByLabelText("Export"), { target: { value: "jsonl" } });
    fireEvent.click(download);
    expect(await screen.findByText(/export a shorter range/)).toBeTruthy();
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    const params = new URL(url, "http://studio.test").searchParams;
    expect(url.startsWith("/audit/export?")).toBe(true);
    expect(params.get("format")).toBe("jsonl");
    expect(params.get("since")).toBe(new Date("2026-03-01T00:00").toISOString());
    expect(params.get("until")).toBe(new Date("2026-03-02T00:00").toISOString());
    expect(init.headers).toEqual({ Authorization: "Bearer admin-token" });
  });

  it("is closed to an editor, who reads nothing of it", async () => {
    const { audits } = open("EDITOR");
    expect(await screen.findByText(/may not read the audit log/)).toBeTruthy();
    expect(audits()).toHaveLength(0);
  });
});

describe("audit filters", () => {
  const blank = { actor: "", action: "", resourceType: "", since: "", until: "" };
  it("leaves blank fields out and needs both ends of a range to export", () => {
    expect(toAuditFilter(blank)).toEqual({});
    expect(exportUrl({ ...blank, since: "2026-03-01T00:00" }, "csv")).toBeNull();
    const url = exportUrl({ ...blank, action: "user.login", since: "2026-03-01T00:00", until: "2026-03-02T00:00" }, "csv")!;
    expect(new URL(url, "http://x").searchParams.get("action")).toBe("user.login");
    expect(new URL(url, "http://x").searchParams.get("actor")).toBeNull();
  });
});
