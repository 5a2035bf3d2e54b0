// Live run events over graphql-ws; after a dropped socket it re-subscribes from the last seq it applied
// (the logic lives in runEventsStream.ts, a plain function the tests drive).
import { useEffect, useRef } from "react";
import { stringifyDocument } from "urql";
import { RUN_EVENTS } from "../api/operations";
import type { RunEvent } from "../api/types";
import type { RunEventsSubscription } from "../gql/graphql";
import { useSession } from "../auth";
import { followRunEvents } from "./runEventsStream";

export interface RunEventsHandlers {
  onEvent: (event: RunEvent) => void;
  /** A streamed model answer grew (STEP_DELTA, live only): `data.text` is the step's answer so far. */
  onDelta?: (event: RunEvent) => void;
  /** The stream ended (the run's final event) or a re-subscription is due: read the run's state. */
  onSettle: () => void;
  onConnection?: (state: "live" | "reconnecting") => void;
  /**
   * The last seq already applied, read when a subscription starts: the stream resumes after it. A retried run
   * needs it: its history holds the earlier final event, and a stream from the start would end there.
   */
  resumeAfter?: () => number;
}

export function useRunEvents(runId: string, enabled: boolean, handlers: RunEventsHandlers): void {
  const { api } = useSession();
  const ref = useRef(handlers);
  ref.current = handlers;
  useEffect(() => {
    if (!enabled) return;
    return followRunEvents<RunEventsSubscription>((payload, sink) => api.ws.subscribe(payload, sink), {
      runId,
      query: stringifyDocument(RUN_EVENTS), // graphql-ws sends the document as text
      afterSeq: ref.current.resumeAfter?.() ?? 0,
      onEvent: (event) => ref.current.onEvent(event),
      onDelta: (event) => ref.current.onDelta?.(event),
      onSettle: () => ref.current.onSettle(),
      onConnection: (state) => ref.current.onConnection?.(state),
      watchConnected: (listener) => api.ws.on("connected", listener),
    });
  }, [api, runId, enabled]);
}
