// Selections several documents share, defined once as fragments. Codegen adds a fragment's definition to every
// document that spreads it, and masking is off (codegen.ts), so results carry the fields themselves.
import { graphql } from "../gql";

/** Every payload's `errors`, and what `validateDefinition` returns. */
export const USER_ERROR_FIELDS = graphql(`
  fragment UserErrorFields on UserError { path message code severity }
`);

/** A run's id and status: what starting, cancelling and retrying a run return. */
export const RUN_STATUS_FIELDS = graphql(`
  fragment RunStatusFields on Run { id status }
`);

/** A published version as the version list shows it; publishing returns the same. */
export const VERSION_FIELDS = graphql(`
  fragment VersionFields on WorkflowVersion { id version note publishedAt }
`);

/** A credential's row (its value never comes back). */
export const CREDENTIAL_FIELDS = graphql(`
  fragment CredentialFields on Credential { id name kind allowedHosts createdAt }
`);

/** A user's row. */
export const USER_FIELDS = graphql(`
  fragment UserFields on User { id email role active createdAt lastLoginAt mustChangePassword }
`);

/** An API key's row (the key itself comes back once, beside it). */
export const API_KEY_FIELDS = graphql(`
  fragment ApiKeyFields on ApiKey { id name role createdAt lastUsedAt expiresAt revoked createdBy { id email } }
`);

/** A schedule as every change to it (create, update, pause, resume) returns it. */
export const SCHEDULE_FIELDS = graphql(`
  fragment ScheduleFields on Schedule { id cron timezone enabled nextFireAt }
`);

/** A row of the Runs page (and of a workflow's runs). */
export const RUN_ROW_FIELDS = graphql(`
  fragment RunRowFields on Run {
    id status version test trigger startedVia createdAt startedAt finishedAt parentStepId itemIndex
    workflow { id name }
    startedBy { id email }
    parent { id }
  }
`);

/** A task as the inbox lists and shows it; the live updates carry the same fields. */
export const INBOX_TASK_FIELDS = graphql(`
  fragment InboxTaskFields on HumanTask {
    id stepId status title message formSchema assigneeRole assignedToMe requiredApprovals approvals
    createdAt updatedAt expiresAt
    run { id version input workflow { id name } }
  }
`);
