// Permission gating: the UI shows a control only when `me { permissions }` grants what its operation needs.

export const PERMISSIONS = {
  workflowRead: "workflow:read",
  workflowWrite: "workflow:write",
  workflowPublish: "workflow:publish",
  runRead: "run:read",
  runStart: "run:start",
  runCancel: "run:cancel",
  runRetry: "run:retry",
  taskRead: "task:read",
  taskDecide: "task:decide",
} as const;

export type Permission = (typeof PERMISSIONS)[keyof typeof PERMISSIONS];

/** The controls of the builder, run monitor and inbox, and the permission each needs. */
export const CONTROL_PERMISSION = {
  createWorkflow: PERMISSIONS.workflowWrite,
  editGraph: PERMISSIONS.workflowWrite,
  saveDraft: PERMISSIONS.workflowWrite,
  publish: PERMISSIONS.workflowPublish,
  startRun: PERMISSIONS.runStart,
  cancelRun: PERMISSIONS.runCancel,
  inbox: PERMISSIONS.taskRead,
  decideTask: PERMISSIONS.taskDecide,
} as const;

export type Control = keyof typeof CONTROL_PERMISSION;

export function can(permissions: readonly string[] | undefined | null, control: Control): boolean {
  return !!permissions && permissions.includes(CONTROL_PERMISSION[control]);
}

/** Every control the permission set allows, for a quick overview (and tests). */
export function allowedControls(permissions: readonly string[]): Control[] {
  return (Object.keys(CONTROL_PERMISSION) as Control[]).filter((c) => can(permissions, c));
}
