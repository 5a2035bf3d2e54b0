// The GraphQL documents of the admin screens (credentials, users and API keys, a workflow's triggers),
// written with the generated `graphql()` like operations.ts.
import { graphql } from "../gql";

export const CREDENTIALS = graphql(`
  query Credentials {
    credentials { id name kind allowedHosts createdAt }
  }
`);

export const CREATE_CREDENTIAL = graphql(`
  mutation CreateCredential($input: CredentialInput!) {
    createCredential(input: $input) {
      credential { id name kind allowedHosts createdAt }
      errors { path message code }
    }
  }
`);

export const DELETE_CREDENTIAL = graphql(`
  mutation DeleteCredential($id: ID!) {
    deleteCredential(id: $id) {
      deletedId
      errors { path message code }
    }
  }
`);

export const USERS = graphql(`
  query Users($after: String) {
    users(first: 100, after: $after) {
      nodes { id email role active createdAt lastLoginAt }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

export const CREATE_USER = graphql(`
  mutation CreateUser($email: String!, $password: String!, $role: Role!) {
    createUser(email: $email, password: $password, role: $role) {
      user { id email role active createdAt lastLoginAt }
      errors { path message code }
    }
  }
`);

export const SET_USER_ROLE = graphql(`
  mutation SetUserRole($userId: ID!, $role: Role!) {
    setUserRole(userId: $userId, role: $role) {
      user { id role }
      errors { path message code }
    }
  }
`);

export const SET_USER_ACTIVE = graphql(`
  mutation SetUserActive($userId: ID!, $active: Boolean!) {
    setUserActive(userId: $userId, active: $active) {
      user { id active }
      errors { path message code }
    }
  }
`);

export const API_KEYS = graphql(`
  query ApiKeys {
    apiKeys { id name role createdAt lastUsedAt revoked createdBy { id email } }
  }
`);

export const CREATE_API_KEY = graphql(`
  mutation CreateApiKey($name: String!, $role: Role!) {
    createApiKey(name: $name, role: $role) {
      apiKey { id name role createdAt lastUsedAt revoked createdBy { id email } }
      key
      errors { path message code }
    }
  }
`);

export const REVOKE_API_KEY = graphql(`
  mutation RevokeApiKey($id: ID!) {
    revokeApiKey(id: $id) {
      apiKey { id revoked }
      errors { path message code }
    }
  }
`);

export const WORKFLOW_TRIGGERS = graphql(`
  query WorkflowTriggers($id: ID!, $withWebhooks: Boolean!) {
    workflow(id: $id) {
      id name archived
      latestVersion { version }
      webhooks @include(if: $withWebhooks) { id auth enabled rateLimitPerMinute previousSecretExpiresAt createdAt url }
      schedules {
        id cron timezone enabled nextFireAt overlap catchUp catchUpWindowS jitterS input lastFireAt createdAt
      }
    }
  }
`);

export const CREATE_WEBHOOK = graphql(`
  mutation CreateWebhook($workflowId: ID!, $input: WebhookInput) {
    createWebhook(workflowId: $workflowId, input: $input) {
      webhook { id url auth enabled rateLimitPerMinute }
      secret
      errors { path message code }
    }
  }
`);

export const ROTATE_WEBHOOK_SECRET = graphql(`
  mutation RotateWebhookSecret($id: ID!) {
    rotateWebhookSecret(id: $id) {
      webhook { id url previousSecretExpiresAt }
      secret
      errors { path message code }
    }
  }
`);

export const UPDATE_WEBHOOK = graphql(`
  mutation UpdateWebhook($id: ID!, $input: WebhookUpdateInput!) {
    updateWebhook(id: $id, input: $input) {
      webhook { id enabled rateLimitPerMinute }
      errors { path message code }
    }
  }
`);

export const DELETE_WEBHOOK = graphql(`
  mutation DeleteWebhook($id: ID!) {
    deleteWebhook(id: $id) {
      deletedId
      errors { path message code }
    }
  }
`);

export const SCHEDULE_PREVIEW = graphql(`
  query SchedulePreview($cron: String!, $timezone: String!, $count: Int!) {
    schedulePreview(cron: $cron, timezone: $timezone, count: $count) {
      fires
      errors { path message code }
    }
  }
`);

export const CREATE_SCHEDULE = graphql(`
  mutation CreateSchedule($workflowId: ID!, $input: ScheduleInput!) {
    createSchedule(workflowId: $workflowId, input: $input) {
      schedule { id cron timezone enabled nextFireAt }
      errors { path message code }
    }
  }
`);

export const UPDATE_SCHEDULE = graphql(`
  mutation UpdateSchedule($id: ID!, $input: ScheduleInput!) {
    updateSchedule(id: $id, input: $input) {
      schedule { id cron timezone enabled nextFireAt }
      errors { path message code }
    }
  }
`);

export const PAUSE_SCHEDULE = graphql(`
  mutation PauseSchedule($id: ID!) {
    pauseSchedule(id: $id) {
      schedule { id enabled nextFireAt }
      errors { path message code }
    }
  }
`);

export const RESUME_SCHEDULE = graphql(`
  mutation ResumeSchedule($id: ID!) {
    resumeSchedule(id: $id) {
      schedule { id enabled nextFireAt }
      errors { path message code }
    }
  }
`);

export const DELETE_SCHEDULE = graphql(`
  mutation DeleteSchedule($id: ID!) {
    deleteSchedule(id: $id) {
      deletedId
      errors { path message code }
    }
  }
`);
