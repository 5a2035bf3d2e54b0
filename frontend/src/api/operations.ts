// Every GraphQL document the UI sends (checked against schema.graphql by the e2e run against a real server).

export const ME = /* GraphQL */ `
  query Me {
    me {
      user { id email }
      tenant { id name }
      role
      permissions
    }
  }
`;

export const LOGIN = /* GraphQL */ `
  mutation Login($email: String!, $password: String!) {
    login(email: $email, password: $password) {
      token
      errors { path message code }
    }
  }
`;

export const NODE_TYPES = /* GraphQL */ `
  query NodeTypes {
    nodeTypes { type title category description configSchema outputSchema branches dynamicBranches trigger }
  }
`;

export const WORKFLOWS = /* GraphQL */ `
  query Workflows($search: String) {
    workflows(first: 50, search: $search) {
      nodes { id name description updatedAt latestVersion { version } }
    }
  }
`;

export const CREATE_WORKFLOW = /* GraphQL */ `
  mutation CreateWorkflow($input: CreateWorkflowInput!) {
    createWorkflow(input: $input) {
      workflow { id name }
      errors { path message code }
    }
  }
`;

export const WORKFLOW = /* GraphQL */ `
  query Workflow($id: ID!) {
    workflow(id: $id) {
      id name description draft revision
      latestVersion { version publishedAt note }
    }
  }
`;

export const WORKFLOW_RUNS = /* GraphQL */ `
  query WorkflowRuns($workflowId: ID!) {
    runs(first: 10, filter: { workflowId: $workflowId }) {
      nodes { id status version createdAt }
    }
  }
`;

export const VALIDATE = /* GraphQL */ `
  query Validate($definition: JSON!) {
    validateDefinition(definition: $definition) { path message code }
  }
`;

export const UPDATE_WORKFLOW = /* GraphQL */ `
  mutation UpdateWorkflow($id: ID!, $input: UpdateWorkflowInput!) {
    updateWorkflow(id: $id, input: $input) {
      workflow { id draft revision }
      errors { path message code }
    }
  }
`;

export const PUBLISH = /* GraphQL */ `
  mutation Publish($id: ID!, $note: String) {
    publishWorkflow(id: $id, note: $note) {
      version { id version note publishedAt }
      errors { path message code }
    }
  }
`;

export const START_RUN = /* GraphQL */ `
  mutation StartRun($workflowId: ID!, $input: JSON) {
    startRun(workflowId: $workflowId, input: $input) {
      run { id status }
      errors { path message code }
    }
  }
`;

export const RUN_WITH_DEFINITION = /* GraphQL */ `
  query RunWithDefinition($id: ID!, $version: Int!) {
    run(id: $id) {
      id status version input output error createdAt startedAt finishedAt
      workflow { id name version(version: $version) { definition } }
      steps { stepId nodeType status attempt }
    }
  }
`;

export const RUN_HEAD = /* GraphQL */ `
  query RunHead($id: ID!) {
    run(id: $id) { id version }
  }
`;

export const STEP = /* GraphQL */ `
  query Step($runId: ID!, $stepId: String!) {
    run(id: $runId) {
      id
      step(stepId: $stepId) {
        stepId nodeType status attempt input output error envelope startedAt finishedAt
      }
    }
  }
`;

export const RUN_EVENTS = /* GraphQL */ `
  subscription RunEvents($runId: ID!, $afterSeq: Int) {
    runEvents(runId: $runId, afterSeq: $afterSeq) { seq kind stepId status at final }
  }
`;

export const CANCEL_RUN = /* GraphQL */ `
  mutation CancelRun($id: ID!) {
    cancelRun(id: $id) {
      run { id status }
      errors { path message code }
    }
  }
`;

export const HUMAN_TASKS = /* GraphQL */ `
  query HumanTasks($status: HumanTaskStatus) {
    humanTasks(status: $status, first: 50) {
      nodes {
        id stepId status title message formSchema assigneeRole createdAt
        run { id workflow { name } }
      }
    }
  }
`;

export const DECIDE = /* GraphQL */ `
  mutation Decide($id: ID!, $decision: Decision!, $comment: String, $data: JSON) {
    decideHumanTask(id: $id, decision: $decision, comment: $comment, data: $data) {
      task { id status }
      errors { path message code }
    }
  }
`;
