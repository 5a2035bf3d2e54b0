import { describe, expect, it } from "vitest";
import { allowedControls, can } from "./permissions";

// The contract's matrix (studio_shared/rbac.py): each role has its own permissions and every lower role's.
const VIEWER = ["workflow:read", "run:read", "artifact:read", "task:read"];
const APPROVER = [...VIEWER, "task:decide"];
const OPERATOR = [...APPROVER, "run:start", "run:cancel", "run:retry", "message:send"];
const EDITOR = [...OPERATOR, "workflow:write", "workflow:publish", "trigger:manage"];

describe("permission gating", () => {
  it("shows a viewer no edit, publish, run or decide controls", () => {
    expect(allowedControls(VIEWER)).toEqual(["inbox"]);
  });

  it("lets an approver decide tasks but not edit or run", () => {
    expect(allowedControls(APPROVER)).toEqual(["inbox", "decideTask"]);
  });

  it("lets an operator start and cancel runs but not edit", () => {
    expect(can(OPERATOR, "startRun")).toBe(true);
    expect(can(OPERATOR, "cancelRun")).toBe(true);
    expect(can(OPERATOR, "editGraph")).toBe(false);
    expect(can(OPERATOR, "publish")).toBe(false);
  });

  it("gives an editor every builder control", () => {
    expect(allowedControls(EDITOR)).toEqual([
      "createWorkflow",
      "editGraph",
      "saveDraft",
      "publish",
      "startRun",
      "cancelRun",
      "inbox",
      "decideTask",
    ]);
  });

  it("shows nothing without a permission list", () => {
    expect(can(undefined, "inbox")).toBe(false);
    expect(can([], "inbox")).toBe(false);
  });
});
