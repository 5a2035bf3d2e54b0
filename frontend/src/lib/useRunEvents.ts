// Live run events over graphql-ws; after a dropped socket it re-subscribes from the last seq it applied.
import { useEffect, useRef } from "react";
import { stringifyDocument } from "urql";
import { RUN_EVENTS } from "../api/operations";
import type { RunEvent } from "../api/types";
import type { RunEventsSubscription, RunEventsSubscriptionVariables } from "../gql/graphql";
import { useSession } from "../auth";

export interface RunEventsHandlers {
  onEvent: (event: RunEvent) => void;
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
    let lastSeq = ref.current.resumeAfter?.() ?? 0;
    let stopped = false;
    let unsubscribe: (() => void) | null = null;
    let retry: ReturnType<typeof setTimeout> | null = null;
    let attempt = 0;
    const query = stringifyDocument(RUN_EVENTS); // graphql-ws sends the document as text
    const subscribe = () => {
      if (stopped) return;
      ref.current.onConnection?.("live");
      const variables: RunEventsSubscriptionVariables = { runId, afterSeq: lastSeq };
      unsubscribe = api.ws.subscribe<RunEventsSubscription>(
        { query, variables },
        {
          next: ({ data }) => {
            const event = data?.runEvents;
            if (!event || event.seq <= lastSeq) return; // replayed after a reconnect
            lastSeq = event.seq;
            attempt = 0;
            ref.current.onEvent(event);
          },
          error: () => {
            if (stopped) return;
            ref.current.onConnection?.("reconnecting");
            ref.current.onSettle(); // converge on the server's state while the socket is down
            attempt += 1;
            retry = setTimeout(subscribe, Math.min(10_000, 500 * 2 ** attempt));
          },
          complete: () => {
            if (!stopped) ref.current.onSettle();
          },
        },
      );
    };
    subscribe();
    return () => {
      stopped = true;
      if (retry) clearTimeout(retry);
      unsubscribe?.();
    };
  }, [api, runId, enabled]);
}
