// The inbox is live: a task opened elsewhere (through the API) arrives over the humanTaskUpdates subscription,
// appears in the list and raises the navigation's count, without a reload; a decided one leaves both. Deciding works
// from the keyboard.
import { act, cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { InboxLink } from "../components/InboxLink";
import { TaskFeedProvider } from "../lib/taskFeed";
import { liveClient } from "../test/liveClient";
import { ROLE_PERMISSIONS } from "../test/mockGraphQL";
import { renderPage } from "../test/renderPage";
import { InboxPage } from "./Inbox";

afterEach(cleanup);

const task = (id: string, title: string, extra: Record<string, unknown> = {}) => ({
  id,
  stepId: "ask",
  status: "OPEN",
  title,
  message: "Check the **amount** first.",
  formSchema: null,
  assigneeRole: "APPROVER",
  assignedToMe: true,
  requiredApprovals: 1,
  approvals: 0,
  createdAt: `2026-12-07T10:00:0${id.slice(-1)}Z`,
  updatedAt: `2026-12-07T10:00:0${id.slice(-1)}Z`,
  expiresAt: null,
  run: { id: `run-${id}`, version: 3, input: { amount: 250, customer: "ACME" }, workflow: { id: "w1", name: "Refunds" } },
  ...extra,
});

function inbox(initialCount = 1, permissions: string[] = ROLE_PERMISSIONS.APPROVER) {
  let open = initialCount;
  let listed = [task("t1", "Approve 100")];
  const server = liveClient({
    Me: () => ({ me: { user: { id: "u1", email: "ann@example.org" }, tenant: { id: "t", name: "T" }, role: "APPROVER", permissions } }),
    HumanTasks: () => ({ humanTasks: { nodes: listed } }),
    OpenTaskCount: () => ({ humanTaskCount: open }),
    Decide: (v: { id: string; decision: string }) => ({ decideHumanTask: { task: { id: v.id, status: v.decision === "APPROVE" ? "APPROVED" : "REJECTED" }, errors: [] } }),
  });
  renderPage(
    server.client,
    "/inbox",
    "/inbox",
    <TaskFeedProvider enabled mine>
      <nav aria-label="Main">
        <InboxLink />
      </nav>
      <InboxPage />
    </TaskFeedProvider>,
  );
  return {
    ...server,
    setOpen: (n: number) => {
      open = n;
    },
    setListed: (tasks: ReturnType<typeof task>[]) => {
      listed = tasks;
    },
  };
}

const badge = () => screen.queryByTestId("inbox-count")?.textContent ?? null;

describe("the live inbox", () => {
  it("shows a task that arrives through the subscription, and the count rises", async () => {
    const server = inbox(1);
    await screen.findByRole("button", { name: /Approve 100/ });
    await waitFor(() => expect(badge()).toBe("1"));
    await waitFor(() => expect(server.named("HumanTaskUpdates")).toHaveLength(1)); // one subscription for the page and the badge

    // Another user's run reaches its approval: the server says so over the socket.
    server.setOpen(2);
    act(() => {
      expect(server.push("HumanTaskUpdates", { humanTaskUpdates: task("t2", "Approve 250") })).toBe(1);
    });
    await screen.findByRole("button", { name: /Approve 250/ });
    await waitFor(() => expect(badge()).toBe("2"));
    expect(screen.getByRole("link", { name: "Approvals, 2 open" })).toBeTruthy();
    const list = screen.getByRole("list", { name: "Open tasks" });
    expect(within(list).getAllByRole("button").map((b) => b.textContent)).toEqual([
      expect.stringContaining("Approve 250"),
      expect.stringContaining("Approve 100"),
    ]); // newest first

    // Decided elsewhere: it leaves the list, and the count falls.
    server.setOpen(1);
    act(() => {
      server.push("HumanTaskUpdates", { humanTaskUpdates: task("t2", "Approve 250", { status: "APPROVED", updatedAt: "2026-12-07T11:00:00Z" }) });
    });
    await waitFor(() => expect(screen.queryByRole("button", { name: /Approve 250/ })).toBeNull());
    await waitFor(() => expect(badge()).toBe("1"));
  });

  it("after a dropped socket, reads the list and the count again and follows anew", async () => {
    const server = inbox(1);
    await screen.findByRole("button", { name: /Approve 100/ });
    await waitFor(() => expect(server.named("HumanTaskUpdates")).toHaveLength(1));
    const [lists, counts] = [server.named("HumanTasks").length, server.named("OpenTaskCount").length];
    // While the socket was down a task opened: only the re-read can know.
    server.setListed([task("t1", "Approve 100"), task("t4", "Approve 400")]);
    server.setOpen(2);
    act(() => server.fail("HumanTaskUpdates"));
    await screen.findByRole("button", { name: /Approve 400/ });
    expect(server.named("HumanTasks").length).toBe(lists + 1);
    await waitFor(() => expect(badge()).toBe("2"));
    expect(server.named("OpenTaskCount").length).toBeGreaterThan(counts);
    await waitFor(() => expect(server.named("HumanTaskUpdates")).toHaveLength(2), { timeout: 2500 }); // after 1 s
    act(() => {
      expect(server.push("HumanTaskUpdates", { humanTaskUpdates: task("t5", "Approve 500") })).toBe(1);
    });
    await screen.findByRole("button", { name: /Approve 500/ });
  });

  it("ignores a repeated update and a task that is not yours", async () => {
    const server = inbox();
    await screen.findByRole("button", { name: /Approve 100/ });
    await waitFor(() => expect(server.named("HumanTaskUpdates")).toHaveLength(1));
    const counts = server.named("OpenTaskCount").length;
    act(() => {
      server.push("HumanTaskUpdates", { humanTaskUpdates: task("t3", "For editors", { assignedToMe: false }) });
    });
    await waitFor(() => expect(server.named("OpenTaskCount").length).toBe(counts + 1));
    expect(screen.queryByRole("button", { name: /For editors/ })).toBeNull();
    act(() => {
      server.push("HumanTaskUpdates", { humanTaskUpdates: task("t3", "For editors", { assignedToMe: false }) });
    });
    await new Promise((r) => setTimeout(r, 400));
    expect(server.named("OpenTaskCount").length).toBe(counts + 1); // the repeat was dropped
  });

  it("shows the run's input and links to the run, and decides from the keyboard", async () => {
    const server = inbox();
    const first = await screen.findByRole("button", { name: /Approve 100/ });
    first.focus();
    fireEvent.keyDown(first, { key: "ArrowDown" });
    const panel = await screen.findByTestId("task-panel");
    expect(within(panel).getByTestId("task-input").textContent).toContain("customer");
    expect(within(panel).getByTestId("task-input").textContent).toContain("ACME");
    expect(within(panel).getByText("Check the **amount** first.")).toBeTruthy();
    expect(within(panel).getByRole("link", { name: "Open the run" }).getAttribute("href")).toBe("/runs/run-t1");
    fireEvent.keyDown(first, { key: "r" });
    const reject = within(panel).getByRole("button", { name: "Reject" });
    expect(document.activeElement).toBe(reject);
    fireEvent.keyDown(first, { key: "a" });
    const approve = within(panel).getByRole("button", { name: "Approve" });
    expect(document.activeElement).toBe(approve);
    server.setListed([]);
    fireEvent.click(approve); // Enter on a focused button is a click
    await waitFor(() => expect(server.named("Decide")).toHaveLength(1));
    expect(server.named("Decide")[0]!.variables).toMatchObject({ id: "t1", decision: "APPROVE" });
    await screen.findByText("Nothing waits for a decision.");
  });
});
