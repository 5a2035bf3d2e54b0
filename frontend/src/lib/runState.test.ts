import { describe, expect, it } from "vitest";
import type { RunEvent, RunEventKind } from "../api/types";
import { applyEvent, initialRunState, isRunLevel, settle, statusLabel } from "./runState";

const ev = (seq: number, kind: RunEventKind, stepId: string | null, status: string | null, final = false): RunEvent => ({
  seq,
  kind,
  stepId,
  status,
  at: "2026-01-01T00:00:00Z",
  final,
  data: null,
});

describe("run state", () => {
  it("folds step and run events in seq order and ignores replays", () => {
    let s = initialRunState("QUEUED", [{ stepId: "a", nodeType: "x", status: "PENDING", attempt: 0 }]);
    const events = [
      ev(1, "RUN_STARTED", null, "RUNNING"),
      ev(2, "STEP_STARTED", "a", "RUNNING"),
      ev(3, "STEP_SUCCEEDED", "a", "SUCCEEDED"),
    ];
    for (const e of events) s = applyEvent(s, e);
    // A re-subscription replays from an older seq: nothing moves backwards.
    for (const e of events) s = applyEvent(s, e);
    expect(s).toMatchObject({ status: "RUNNING", steps: { a: "SUCCEEDED" }, lastSeq: 3, finished: false });
    s = applyEvent(s, ev(4, "RUN_SUCCEEDED", null, "SUCCEEDED", true));
    expect(s).toMatchObject({ status: "SUCCEEDED", finished: true, lastSeq: 4 });
  });

  it("lets the server's final state win over what the events said", () => {
    let s = initialRunState("RUNNING", []);
    s = applyEvent(s, ev(5, "STEP_STARTED", "b", "RUNNING"));
    s = settle(s, "FAILED", [{ stepId: "b", nodeType: "fail", status: "FAILED", attempt: 1 }]);
    expect(s).toMatchObject({ status: "FAILED", steps: { b: "FAILED" }, finished: true, lastSeq: 5 });
  });

  it("reopens a finished run that was retried (a run event after the final one)", () => {
    let s = initialRunState("RUNNING", []);
    s = applyEvent(s, ev(7, "STEP_FAILED", "a", "FAILED"));
    s = applyEvent(s, ev(8, "RUN_FAILED", null, "FAILED", true));
    expect(s).toMatchObject({ finished: true, lastSeq: 8 });
    s = applyEvent(s, ev(9, "RUN_RETRIED", null, "QUEUED"));
    s = applyEvent(s, ev(10, "STEP_STARTED", "a", "RUNNING"));
    expect(s).toMatchObject({ status: "QUEUED", steps: { a: "RUNNING" }, finished: false, lastSeq: 10 });
    // The server's word after a retry: queued again, the last seq kept so the stream resumes after it.
    s = settle(initialRunState("FAILED", []), "QUEUED", [], true);
    expect(s.finished).toBe(false);
  });

  it("keeps a finished run finished when a stale answer (computed before the final event) arrives after it", () => {
    let s = initialRunState("RUNNING", [{ stepId: "wait", nodeType: "delay", status: "WAITING", attempt: 1 }]);
    s = applyEvent(s, ev(6, "STEP_SUCCEEDED", "wait", "SUCCEEDED"));
    s = applyEvent(s, ev(7, "RUN_SUCCEEDED", null, "SUCCEEDED", true));
    const stale = settle(s, "WAITING", [{ stepId: "wait", nodeType: "delay", status: "WAITING", attempt: 1 }]);
    expect(stale).toBe(s);
    expect(stale).toMatchObject({ status: "SUCCEEDED", steps: { wait: "SUCCEEDED" }, finished: true });
    // After a retry the server's "queued again" does reopen it.
    expect(settle(s, "QUEUED", [], true)).toMatchObject({ status: "QUEUED", finished: false, lastSeq: 7 });
  });

  it("tracks the branches a step took and when a waiting or backing-off step resumes, from event data", () => {
    let s = initialRunState("RUNNING", [
      { stepId: "check", status: "SUCCEEDED", branches: ["true"] },
      { stepId: "wait", status: "WAITING", wakeAt: "2026-01-01T00:01:00Z" },
    ]);
    expect(s).toMatchObject({ branches: { check: ["true"] }, wakeAt: { wait: "2026-01-01T00:01:00Z" } });
    s = applyEvent(s, { ...ev(1, "STEP_SUCCEEDED", "ask", "SUCCEEDED"), data: { attempt: 1, branches: ["rejected"] } });
    s = applyEvent(s, { ...ev(2, "STEP_RETRYING", "http", "PENDING"), data: { retry_at: "2026-01-01T00:00:30Z" } });
    s = applyEvent(s, { ...ev(3, "STEP_SUCCEEDED", "wait", "SUCCEEDED"), data: { attempt: 1 } });
    expect(s.branches).toEqual({ check: ["true"], ask: ["rejected"], wait: null });
    expect(s.wakeAt).toEqual({ http: "2026-01-01T00:00:30Z" });
    s = applyEvent(s, ev(4, "STEP_STARTED", "http", "RUNNING"));
    expect(s.wakeAt).toEqual({});
    // The server's word replaces what the events said for the steps it lists, and keeps the others.
    s = settle(s, "RUNNING", [{ stepId: "ask", status: "PENDING" }]);
    expect(s.branches).toEqual({ check: ["true"], wait: null });
    // Run events carry the run's start and end.
    s = applyEvent(s, { ...ev(5, "RUN_SUCCEEDED", null, "SUCCEEDED", true), at: "2026-01-01T00:02:00Z" });
    expect(s.finishedAt).toBe("2026-01-01T00:02:00Z");
  });

  it("tells run-level kinds from step kinds by the generated RunEventKind", () => {
    const run: RunEventKind[] = ["RUN_QUEUED", "RUN_STARTED", "RUN_RETRIED", "RUN_SUCCEEDED", "RUN_CANCELLED"];
    const step: RunEventKind[] = ["STEP_STARTED", "STEP_SUCCEEDED", "STEP_TOOL_CALL", "STEP_TASK_OPENED"];
    expect(run.every(isRunLevel)).toBe(true);
    expect(step.some(isRunLevel)).toBe(false);
    // A step event never changes the run's status, even without a step id.
    const s = applyEvent(initialRunState("RUNNING", []), ev(1, "STEP_TASK_EXPIRED", null, "RUNNING"));
    const after = applyEvent(s, ev(2, "STEP_FAILED", null, "FAILED"));
    expect(after.status).toBe("RUNNING");
    expect(applyEvent(after, ev(3, "RUN_FAILED", null, "FAILED", true)).status).toBe("FAILED");
  });

  it("labels every status with a word and a symbol", () => {
    for (const status of ["PENDING", "RUNNING", "WAITING", "SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED", "QUEUED"]) {
      const label = statusLabel(status);
      expect(label.text.length).toBeGreaterThan(3);
      expect(label.symbol).not.toBe("");
    }
  });
});

describe("awaited events (wait.event)", () => {
  const awaiting = (seq: number, data: unknown): RunEvent => ({ ...ev(seq, "STEP_AWAITING_EVENT", "w", "RUNNING"), data });

  it("keeps what STEP_AWAITING_EVENT says until the event arrives", () => {
    let s = initialRunState("RUNNING", []);
    s = applyEvent(s, awaiting(1, { event: "paid", resume_url: "https://x/hooks/resume/t", expires_at: "2026-01-02T00:00:00Z" }));
    s = applyEvent(s, ev(2, "STEP_WAITING", "w", "WAITING"));
    expect(s.awaiting).toEqual({ w: { event: "paid", resumeUrl: "https://x/hooks/resume/t", expiresAt: "2026-01-02T00:00:00Z" } });
    s = applyEvent(s, ev(3, "STEP_EVENT_RECEIVED", "w", "RUNNING"));
    expect(s.awaiting).toEqual({});
  });

  it("has no URL when the server withheld it, and the step id when the event names nothing", () => {
    const s = applyEvent(initialRunState("RUNNING", []), awaiting(1, { resume_url: null }));
    expect(s.awaiting?.w).toEqual({ event: "w", resumeUrl: null, expiresAt: null });
  });

  it("forgets the wait when the step ends (a timeout) or the server says it no longer waits", () => {
    let s = applyEvent(initialRunState("RUNNING", []), awaiting(1, { event: "paid" }));
    expect(applyEvent(s, ev(2, "STEP_SUCCEEDED", "w", "SUCCEEDED")).awaiting).toEqual({});
    s = applyEvent(s, ev(2, "STEP_WAITING", "w", "WAITING"));
    expect(settle(s, "WAITING", [{ stepId: "w", nodeType: "wait.event", status: "WAITING", attempt: 1 }]).awaiting?.w?.event).toBe("paid");
    expect(settle(s, "FAILED", [{ stepId: "w", nodeType: "wait.event", status: "CANCELLED", attempt: 1 }]).awaiting).toEqual({});
  });
});
