// Permission gating: the UI shows a control only when `me { permissions }` grants what its operation needs.

export const PERMISSIONS = {
  workflowRead: "workflow:read",
  workflowWrite: "workflow:write",
  workflowPublish: "workflow:publish",
  workflowTest: "workflow:test",
  runRead: "run:read",
  runStart: "run:start",
  runCancel: "run:cancel",
  runRetry: "run:retry",
  runSignal: "run:signal",
  taskRead: "task:read",
  taskDecide: "task:decide",
  triggerManage: "trigger:manage",
  credentialManage: "credential:manage",
  userManage: "user:manage",
  apikeyManage: "apikey:manage",
  auditRead: "audit:read",
  tenantManage: "tenant:manage",
} as const;

export type Permission = (typeof PERMISSIONS)[keyof typeof PERMISSIONS];

/** The controls of the builder, run monitor, inbox and admin screens, and the permission each needs. */
export const CONTROL_PERMISSION = {
  createWorkflow: PERMISSIONS.workflowWrite,
  editGraph: PERMISSIONS.workflowWrite,
  saveDraft: PERMISSIONS.workflowWrite,
  publish: PERMISSIONS.workflowPublish,
  startRun: PERMISSIONS.runStart,
  // Test runs, test steps, pins and replays against the draft (EDITOR and above).
  testDraft: PERMISSIONS.workflowTest,
  cancelRun: PERMISSIONS.runCancel,
  retryRun: PERMISSIONS.runRetry,
  // Resume a wait.event step by its event name (signalRun); the same permission reads its resume URL.
  signalRun: PERMISSIONS.runSignal,
  inbox: PERMISSIONS.taskRead,
  decideTask: PERMISSIONS.taskDecide,
  // Triggers of a workflow (webhooks, schedules): every reader sees them, trigger:manage changes them.
  viewTriggers: PERMISSIONS.workflowRead,
  manageTriggers: PERMISSIONS.triggerManage,
  // The Runs page (every role reads runs).
  runs: PERMISSIONS.runRead,
  // Admin screens.
  credentials: PERMISSIONS.credentialManage,
  users: PERMISSIONS.userManage,
  apiKeys: PERMISSIONS.apikeyManage,
  // The audit log: search and export (ADMIN).
  auditLog: PERMISSIONS.auditRead,
  // The tenant's own settings (its default error workflow).
  tenantSettings: PERMISSIONS.tenantManage,
} as const;

export type Control = keyof typeof CONTROL_PERMISSION;

export function can(permissions: readonly string[] | undefined | null, control: Control): boolean {
  return !!permissions && permissions.includes(CONTROL_PERMISSION[control]);
}

/** Every control the permission set allows, for a quick overview (and tests). */
export function allowedControls(permissions: readonly string[]): Control[] {
  return (Object.keys(CONTROL_PERMISSION) as Control[]).filter((c) => can(permissions, c));
}

/** The admin screens in the main navigation; each shows when any of its controls is allowed. */
export const ADMIN_NAV = [
  { to: "/credentials", label: "Credentials", controls: ["credentials"] },
  { to: "/users", label: "Users", controls: ["users", "apiKeys"] },
  { to: "/settings", label: "Settings", controls: ["tenantSettings"] },
  { to: "/audit", label: "Audit", controls: ["auditLog"] },
] as const satisfies readonly { to: string; label: string; controls: readonly Control[] }[];

export type AdminNavEntry = (typeof ADMIN_NAV)[number];

export function adminNav(permissions: readonly string[] | undefined | null): AdminNavEntry[] {
  return ADMIN_NAV.filter((entry) => entry.controls.some((c) => can(permissions, c)));
}
