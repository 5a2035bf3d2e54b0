// The Runs page: the filters in the address are what it asks the API for, changing one writes the address (so the
// view can be shared), rows link to their runs, and "Show more" asks for the page after the last row.
import { act, cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { useLocation } from "react-router-dom";
import { afterEach, describe, expect, it } from "vitest";
import { liveClient } from "../test/liveClient";
import { ROLE_PERMISSIONS } from "../test/mockGraphQL";
import { renderPage } from "../test/renderPage";
import { RunsPage } from "./Runs";

afterEach(cleanup);

function Address() {
  const location = useLocation();
  return <output data-testid="address">{`${location.pathname}${location.search}`}</output>;
}

const row = (n: number, extra: Record<string, unknown> = {}) => ({
  id: `0000000${n}-run`,
  status: "FAILED",
  version: 2,
  trigger: "webhook",
  startedVia: "webhook",
  createdAt: "2026-12-07T10:00:00Z",
  startedAt: "2026-12-07T10:00:00Z",
  finishedAt: "2026-12-07T10:00:04.200Z",
  parentStepId: null,
  itemIndex: null,
  workflow: { id: "w1", name: "Refunds" },
  startedBy: { id: "u2", email: "bo@example.org" },
  parent: null,
  ...extra,
});

function runsPage(
  at: string,
  route = "/runs",
  pages: Record<string, unknown[]> = { first: [row(1), row(2)] },
  role: keyof typeof ROLE_PERMISSIONS = "VIEWER",
) {
  const server = liveClient({
    Me: () => ({ me: { user: { id: "u1", email: "ann@example.org" }, tenant: { id: "t", name: "T" }, role, permissions: ROLE_PERMISSIONS[role] } }),
    TestReplay: (v: { runId: string }) => ({ testReplay: { run: { id: `replay-of-${v.runId}`, status: "QUEUED", test: true }, errors: [] } }),
    Workflows: () => ({ workflows: { nodes: [{ id: "w1", name: "Refunds", description: null, updatedAt: "2026-12-07T10:00:00Z", latestVersion: { version: 2 } }] } }),
    WorkflowName: () => ({ workflow: { id: "w1", name: "Refunds" } }),
    RunsPage: (v: { after: string | null }) => {
      const nodes = pages[v.after ?? "first"] ?? [];
      const more = v.after === null && "c1" in pages;
      return { runs: { nodes, pageInfo: { hasNextPage: more, endCursor: more ? "c1" : null } } };
    },
  });
  renderPage(
    server.client,
    route,
    at,
    <>
      <RunsPage />
      <Address />
    </>,
  );
  return server;
}

const lastFilter = (server: ReturnType<typeof liveClient>) => server.named("RunsPage").at(-1)?.variables?.filter;

describe("the Runs page", () => {
  it("filters test or live runs, marks test runs, and lets an editor replay a run on the draft", async () => {
    const server = runsPage("/runs?mode=test", "/runs", { first: [row(1, { test: true, version: 0 }), row(2)] }, "EDITOR");
    const table = await screen.findByRole("table", { name: "Runs" });
    await waitFor(() => expect(within(table).getAllByTestId("run-row")).toHaveLength(2));
    expect(lastFilter(server)).toEqual({ test: true, topLevel: true });
    expect((screen.getByLabelText("Test or live") as HTMLSelectElement).value).toBe("test");
    const [testRow, liveRow] = within(table).getAllByTestId("run-row");
    expect(within(testRow!).getByTestId("test-badge").textContent).toBe("Test");
    expect(testRow!.textContent).toContain("draft");
    expect(within(liveRow!).queryByTestId("test-badge")).toBeNull();

    fireEvent.change(screen.getByLabelText("Test or live"), { target: { value: "live" } });
    await waitFor(() => expect(screen.getByTestId("address").textContent).toBe("/runs?mode=live"));
    await waitFor(() => expect(lastFilter(server)).toEqual({ test: false, topLevel: true }));

    fireEvent.click(within(table).getByRole("button", { name: "Replay on the draft: run 00000002" }));
    await screen.findByText("elsewhere"); // the new test run's page (not mounted here)
    expect(server.named("TestReplay").map((c) => c.variables)).toEqual([{ runId: "00000002-run" }]);
  });

  it("offers a viewer no replay on the draft", async () => {
    runsPage("/runs");
    const table = await screen.findByRole("table", { name: "Runs" });
    await waitFor(() => expect(within(table).getAllByTestId("run-row")).toHaveLength(2));
    expect(within(table).queryByRole("button", { name: /on the draft/ })).toBeNull();
  });

  it("asks for the filters in the address, and writes a changed filter back to it", async () => {
    const server = runsPage("/runs?status=FAILED&trigger=webhook");
    const table = await screen.findByRole("table", { name: "Runs" });
    await waitFor(() => expect(within(table).getAllByTestId("run-row")).toHaveLength(2));
    expect(lastFilter(server)).toEqual({ status: ["FAILED"], trigger: ["webhook"], topLevel: true });
    expect((screen.getByLabelText("Status") as HTMLSelectElement).value).toBe("FAILED");
    expect((screen.getByLabelText("Trigger") as HTMLSelectElement).value).toBe("webhook");
    const link = within(table).getByRole("link", { name: "Run 00000001 of Refunds" });
    expect(link.getAttribute("href")).toBe("/runs/00000001-run");
    expect(within(table).getAllByText("4.2 s")).toHaveLength(2);

    fireEvent.change(screen.getByLabelText("Status"), { target: { value: "ACTIVE" } });
    await waitFor(() => expect(screen.getByTestId("address").textContent).toBe("/runs?status=ACTIVE&trigger=webhook"));
    await waitFor(() => expect(lastFilter(server)).toEqual({ status: ["QUEUED", "RUNNING", "WAITING"], trigger: ["webhook"], topLevel: true }));

    fireEvent.click(screen.getByLabelText("Include child runs"));
    await waitFor(() => expect(screen.getByTestId("address").textContent).toBe("/runs?status=ACTIVE&trigger=webhook&children=1"));
    await waitFor(() => expect(lastFilter(server)).toEqual({ status: ["QUEUED", "RUNNING", "WAITING"], trigger: ["webhook"] }));

    // A starter's name filters by them.
    fireEvent.click(within(table).getAllByRole("button", { name: "Only runs started for bo@example.org" })[0]!);
    await waitFor(() => expect(screen.getByTestId("address").textContent).toBe("/runs?status=ACTIVE&trigger=webhook&startedBy=u2&children=1"));
    expect((screen.getByLabelText("Started by") as HTMLSelectElement).selectedOptions[0]!.textContent).toBe("bo@example.org");
  });

  it("reads its first page again when a run changes, while it shows one page", async () => {
    const server = runsPage("/runs?trigger=webhook");
    await screen.findAllByTestId("run-row");
    await waitFor(() => expect(server.named("RunUpdates")).toHaveLength(1));
    expect(server.named("RunUpdates")[0]?.variables).toEqual({ workflowId: null });
    const reads = server.named("RunsPage").length;
    act(() => {
      server.push("RunUpdates", { runUpdates: { id: "00000009-run", status: "RUNNING" } });
      server.push("RunUpdates", { runUpdates: { id: "00000009-run", status: "SUCCEEDED" } });
    });
    await waitFor(() => expect(server.named("RunsPage").length).toBe(reads + 1), { timeout: 2500 }); // one read for the burst
    expect(screen.getByTestId("runs-live").textContent).toBe("Updates live");
  });

  it("pages on with the cursor of the last row", async () => {
    const server = runsPage("/runs", "/runs", { first: [row(1), row(2)], c1: [row(3)] });
    await screen.findAllByTestId("run-row");
    fireEvent.click(await screen.findByRole("button", { name: "Show 50 more" }));
    await waitFor(() => expect(screen.getAllByTestId("run-row")).toHaveLength(3));
    expect(server.named("RunsPage").at(-1)?.variables).toMatchObject({ after: "c1", first: 50, filter: { topLevel: true } });
    expect(screen.queryByRole("button", { name: "Show 50 more" })).toBeNull();
    expect(screen.getByTestId("runs-live").textContent).toBe("Several pages shown: Refresh to update");
  });

  it("on a workflow's page, filters by the workflow in the path and says when nothing matches", async () => {
    const server = runsPage("/workflows/w1/runs?trigger=schedule", "/workflows/:id/runs", { first: [] });
    await screen.findByRole("heading", { name: "Runs of Refunds" });
    await screen.findByText("No run matches these filters.");
    expect(lastFilter(server)).toEqual({ workflowId: "w1", trigger: ["schedule"], topLevel: true });
    expect(screen.queryByLabelText("Workflow")).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: "Clear the filters" }));
    await waitFor(() => expect(screen.getByTestId("address").textContent).toBe("/workflows/w1/runs"));
  });
});
