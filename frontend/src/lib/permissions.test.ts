import { describe, expect, it } from "vitest";
import { adminNav, allowedControls, can } from "./permissions";

// The contract's matrix (studio_shared/rbac.py): each role has its own permissions and every lower role's.
const VIEWER = ["workflow:read", "run:read", "artifact:read", "task:read"];
const APPROVER = [...VIEWER, "task:decide"];
const OPERATOR = [...APPROVER, "run:start", "run:cancel", "run:retry", "run:signal", "message:send"];
const EDITOR = [...OPERATOR, "workflow:write", "workflow:publish", "workflow:test", "trigger:manage"];
const ADMIN = [
  ...EDITOR,
  "credential:manage",
  "user:manage",
  "apikey:manage",
  "audit:read",
  "tenant:manage",
  "conversation:manage",
];

describe("permission gating", () => {
  it("shows a viewer no edit, publish, run or decide controls", () => {
    expect(allowedControls(VIEWER)).toEqual(["inbox", "viewTriggers", "runs"]);
  });

  it("lets an approver decide tasks but not edit or run", () => {
    expect(allowedControls(APPROVER)).toEqual(["inbox", "decideTask", "viewTriggers", "runs"]);
  });

  it("lets an operator start and cancel runs but not edit", () => {
    expect(can(OPERATOR, "startRun")).toBe(true);
    expect(can(OPERATOR, "cancelRun")).toBe(true);
    expect(can(OPERATOR, "retryRun")).toBe(true);
    expect(can(APPROVER, "retryRun")).toBe(false);
    expect(can(OPERATOR, "signalRun")).toBe(true); // resumes a wait.event step and reads its resume URL
    expect(can(APPROVER, "signalRun")).toBe(false);
    expect(can(OPERATOR, "editGraph")).toBe(false);
    expect(can(OPERATOR, "publish")).toBe(false);
    expect(can(OPERATOR, "testDraft")).toBe(false); // an operator starts real runs only
  });

  it("gives an editor every builder control", () => {
    expect(allowedControls(EDITOR)).toEqual([
      "createWorkflow",
      "editGraph",
      "saveDraft",
      "publish",
      "startRun",
      "testDraft",
      "cancelRun",
      "retryRun",
      "signalRun",
      "inbox",
      "decideTask",
      "viewTriggers",
      "manageTriggers",
      "runs",
    ]);
  });

  it("lets an editor manage triggers but no admin screen", () => {
    expect(can(EDITOR, "manageTriggers")).toBe(true);
    expect(can(OPERATOR, "manageTriggers")).toBe(false);
    expect(adminNav(EDITOR)).toEqual([]);
    expect(can(EDITOR, "credentials") || can(EDITOR, "users") || can(EDITOR, "apiKeys") || can(EDITOR, "tenantSettings") || can(EDITOR, "auditLog")).toBe(false);
  });

  it("shows an admin the credentials, users, settings and audit screens", () => {
    expect(adminNav(ADMIN).map((e) => e.to)).toEqual(["/credentials", "/users", "/settings", "/audit"]);
    expect(allowedControls(ADMIN)).toEqual(expect.arrayContaining(["credentials", "users", "apiKeys", "manageTriggers", "tenantSettings", "auditLog"]));
    // A custom permission set with API keys only still reaches the users screen.
    expect(adminNav([...VIEWER, "apikey:manage"]).map((e) => e.label)).toEqual(["Users"]);
  });

  it("shows nothing without a permission list", () => {
    expect(can(undefined, "inbox")).toBe(false);
    expect(can([], "inbox")).toBe(false);
    expect(adminNav(undefined)).toEqual([]);
  });
});
