// Types of the GraphQL results the UI reads; they mirror schema.graphql (the full SDL at the repo root).

export type JSONValue = unknown;
export type JSONObject = Record<string, unknown>;

export interface UserError {
  path: string[];
  message: string;
  code: string;
}

export interface NodeTypeInfo {
  type: string;
  title: string;
  category: string;
  description: string;
  configSchema: JSONObject;
  outputSchema: JSONObject | null;
  branches: string[];
  dynamicBranches: string | null;
  trigger: boolean;
}

export interface Viewer {
  user: { id: string; email: string } | null;
  tenant: { id: string; name: string };
  role: string;
  permissions: string[];
}

export type RunStatus = "QUEUED" | "RUNNING" | "WAITING" | "SUCCEEDED" | "FAILED" | "CANCELLED";
export type StepStatus = "PENDING" | "RUNNING" | "WAITING" | "SUCCEEDED" | "FAILED" | "SKIPPED" | "CANCELLED";

export interface WorkflowSummary {
  id: string;
  name: string;
  description: string | null;
  updatedAt: string;
  latestVersion: { version: number } | null;
}

export interface WorkflowDetail {
  id: string;
  name: string;
  description: string | null;
  draft: JSONObject;
  revision: number;
  latestVersion: { version: number; publishedAt: string; note: string | null } | null;
}

export interface StepSummary {
  stepId: string;
  nodeType: string;
  status: StepStatus;
  attempt: number;
}

export interface RunDetail {
  id: string;
  status: RunStatus;
  version: number;
  input: JSONValue;
  output: JSONValue;
  error: JSONValue;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  workflow: { id: string; name: string; version: { definition: JSONObject } | null };
  steps: StepSummary[];
}

export interface StepDetail extends StepSummary {
  input: JSONValue;
  output: JSONValue;
  error: JSONValue;
  envelope: JSONObject | null;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface RunEvent {
  seq: number;
  kind: string;
  stepId: string | null;
  status: string | null;
  at: string;
  final: boolean;
}

export interface HumanTask {
  id: string;
  stepId: string;
  status: string;
  title: string;
  message: string | null;
  formSchema: JSONObject | null;
  assigneeRole: string;
  createdAt: string;
  run: { id: string; workflow: { name: string } };
}
