// Names for the result shapes the UI passes around. Each is derived from the types GraphQL Code Generator
// writes to src/gql/ (`npm run codegen`, from schema.graphql): nothing here restates the schema by hand.
import type {
  HumanTasksQuery,
  RunRowFieldsFragment,
  MeQuery,
  NodeTypesQuery,
  RunEventsSubscription,
  RunWithDefinitionQuery,
  UserErrorFieldsFragment,
  WorkflowQuery,
} from "../gql/graphql";

export type { RunEventKind, RunStatus } from "../gql/graphql";

/** Every payload's `errors`, and what `validateDefinition` returns (the UserErrorFields fragment). A problem without
 *  a severity (one the UI makes itself) is an error. */
export type UserError = Omit<UserErrorFieldsFragment, "severity"> & Partial<Pick<UserErrorFieldsFragment, "severity">>;

export type Viewer = MeQuery["me"];
export type NodeTypeInfo = NodeTypesQuery["nodeTypes"][number];
export type WorkflowDetail = NonNullable<WorkflowQuery["workflow"]>;
export type StepSummary = NonNullable<RunWithDefinitionQuery["run"]>["steps"][number];
export type RunEvent = RunEventsSubscription["runEvents"];
export type HumanTask = HumanTasksQuery["humanTasks"]["nodes"][number];
export type RunRow = RunRowFieldsFragment;
