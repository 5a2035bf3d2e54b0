// The GraphQL documents of the admin screens (credentials, users and API keys, a workflow's triggers),
// written with the generated `graphql()` like operations.ts.
import { graphql } from "../gql";

export const CREDENTIALS = graphql(`
  query Credentials {
    credentials { ...CredentialFields }
  }
`);

export const CREATE_CREDENTIAL = graphql(`
  mutation CreateCredential($input: CredentialInput!) {
    createCredential(input: $input) {
      credential { ...CredentialFields }
      errors { ...UserErrorFields }
    }
  }
`);

export const DELETE_CREDENTIAL = graphql(`
  mutation DeleteCredential($id: ID!) {
    deleteCredential(id: $id) {
      deletedId
      errors { ...UserErrorFields }
    }
  }
`);

export const USERS = graphql(`
  query Users($after: String) {
    users(first: 100, after: $after) {
      nodes { ...UserFields }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

export const CREATE_USER = graphql(`
  mutation CreateUser($email: String!, $password: String!, $role: Role!) {
    createUser(email: $email, password: $password, role: $role) {
      user { ...UserFields }
      errors { ...UserErrorFields }
    }
  }
`);

export const SET_USER_ROLE = graphql(`
  mutation SetUserRole($userId: ID!, $role: Role!) {
    setUserRole(userId: $userId, role: $role) {
      user { id role }
      errors { ...UserErrorFields }
    }
  }
`);

export const SET_USER_ACTIVE = graphql(`
  mutation SetUserActive($userId: ID!, $active: Boolean!) {
    setUserActive(userId: $userId, active: $active) {
      user { id active }
      errors { ...UserErrorFields }
    }
  }
`);

export const RESET_USER_PASSWORD = graphql(`
  mutation ResetUserPassword($userId: ID!) {
    resetUserPassword(userId: $userId) {
      user { ...UserFields }
      temporaryPassword
      expiresAt
      errors { ...UserErrorFields }
    }
  }
`);

export const API_KEYS = graphql(`
  query ApiKeys {
    apiKeys { ...ApiKeyFields }
  }
`);

export const CREATE_API_KEY = graphql(`
  mutation CreateApiKey($name: String!, $role: Role!, $expiresAt: DateTime) {
    createApiKey(name: $name, role: $role, expiresAt: $expiresAt) {
      apiKey { ...ApiKeyFields }
      key
      errors { ...UserErrorFields }
    }
  }
`);

export const REVOKE_API_KEY = graphql(`
  mutation RevokeApiKey($id: ID!) {
    revokeApiKey(id: $id) {
      apiKey { id revoked }
      errors { ...UserErrorFields }
    }
  }
`);

export const WORKFLOW_TRIGGERS = graphql(`
  query WorkflowTriggers($id: ID!, $withWebhooks: Boolean!) {
    workflow(id: $id) {
      id name archived
      latestVersion { version }
      webhooks @include(if: $withWebhooks) { id auth enabled rateLimitPerMinute replayWindowS previousSecretExpiresAt createdAt url }
      schedules {
        id cron timezone enabled nextFireAt overlap catchUp catchUpWindowS jitterS input lastFireAt createdAt
        lastFire { id outcome error run { id status } }
      }
    }
  }
`);

export const CREATE_WEBHOOK = graphql(`
  mutation CreateWebhook($workflowId: ID!, $input: WebhookInput) {
    createWebhook(workflowId: $workflowId, input: $input) {
      webhook { id url auth enabled rateLimitPerMinute replayWindowS }
      secret
      errors { ...UserErrorFields }
    }
  }
`);

export const ROTATE_WEBHOOK_SECRET = graphql(`
  mutation RotateWebhookSecret($id: ID!) {
    rotateWebhookSecret(id: $id) {
      webhook { id url previousSecretExpiresAt }
      secret
      errors { ...UserErrorFields }
    }
  }
`);

export const UPDATE_WEBHOOK = graphql(`
  mutation UpdateWebhook($id: ID!, $input: WebhookUpdateInput!) {
    updateWebhook(id: $id, input: $input) {
      webhook { id enabled rateLimitPerMinute replayWindowS }
      errors { ...UserErrorFields }
    }
  }
`);

export const DELETE_WEBHOOK = graphql(`
  mutation DeleteWebhook($id: ID!) {
    deleteWebhook(id: $id) {
      deletedId
      errors { ...UserErrorFields }
    }
  }
`);

export const SCHEDULE_PREVIEW = graphql(`
  query SchedulePreview($cron: String!, $timezone: String!, $count: Int!) {
    schedulePreview(cron: $cron, timezone: $timezone, count: $count) {
      fires
      errors { ...UserErrorFields }
    }
  }
`);

export const CREATE_SCHEDULE = graphql(`
  mutation CreateSchedule($workflowId: ID!, $input: ScheduleInput!) {
    createSchedule(workflowId: $workflowId, input: $input) {
      schedule { ...ScheduleFields }
      errors { ...UserErrorFields }
    }
  }
`);

export const UPDATE_SCHEDULE = graphql(`
  mutation UpdateSchedule($id: ID!, $input: ScheduleInput!) {
    updateSchedule(id: $id, input: $input) {
      schedule { ...ScheduleFields }
      errors { ...UserErrorFields }
    }
  }
`);

export const PAUSE_SCHEDULE = graphql(`
  mutation PauseSchedule($id: ID!) {
    pauseSchedule(id: $id) {
      schedule { ...ScheduleFields }
      errors { ...UserErrorFields }
    }
  }
`);

export const RESUME_SCHEDULE = graphql(`
  mutation ResumeSchedule($id: ID!) {
    resumeSchedule(id: $id) {
      schedule { ...ScheduleFields }
      errors { ...UserErrorFields }
    }
  }
`);

export const DELETE_SCHEDULE = graphql(`
  mutation DeleteSchedule($id: ID!) {
    deleteSchedule(id: $id) {
      deletedId
      errors { ...UserErrorFields }
    }
  }
`);

export const AUDIT_LOG = graphql(`
  query AuditLog($filter: AuditLogFilter, $first: Int, $after: String) {
    auditLog(filter: $filter, first: $first, after: $after) {
      nodes { id actor action targetKind targetId data at }
      pageInfo { hasNextPage endCursor }
    }
  }
`);
