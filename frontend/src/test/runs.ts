// What the run monitor's query returns besides a run's status, steps and definition: the header's facts, for fakes.
export const RUN_FACTS = {
  trigger: "manual",
  startedVia: "user",
  idempotencyKey: null,
  parentStepId: null,
  itemIndex: null,
  parent: null,
  errorRun: null,
  failedRun: null,
  startedBy: { id: "u1", email: "ana@example.org" },
  triggerDetails: {
    deliveryId: null,
    receivedAt: null,
    scheduleId: null,
    scheduledFor: null,
    channel: null,
    messageId: null,
    replayOf: null,
  },
};
