// Follows a run's events over a subscription source (graphql-ws), re-subscribing after a dropped socket from the
// last seq it applied. No React here: useRunEvents drives it, and the tests drive it with a fake source.
import type { RunEvent } from "../api/types";

/** What a subscription hands its sink; the subset of graphql-ws's Sink this needs. */
export interface EventSink<T> {
  next(value: { data?: T | null }): void;
  error(error: unknown): void;
  complete(): void;
}

/** graphql-ws's `client.subscribe`: starts a subscription and returns its unsubscribe. */
export type SubscribeFn<T> = (payload: { query: string; variables: Record<string, unknown> }, sink: EventSink<T>) => () => void;

export interface FollowOptions {
  runId: string;
  /** The subscription's document, as text (graphql-ws sends text). */
  query: string;
  /** The seq already applied before the first subscription (0: from the start). */
  afterSeq: number;
  onEvent: (event: RunEvent) => void;
  /**
   * A STEP_DELTA: a streamed model answer grew (`data.text` is the whole text so far). Live only, never stored: its
   * seq repeats the last stored event's, so it bypasses the seq de-duplication and does not move the resume point.
   */
  onDelta?: (event: RunEvent) => void;
  /** The stream ended (the run's final event) or the socket dropped: read the run's state over HTTP. */
  onSettle: () => void;
  onConnection?: (state: "live" | "reconnecting") => void;
  /**
   * Calls its listener whenever the client's socket (re)connects (graphql-ws's `on("connected")`); returns the
   * unlisten. After a drop the connection shows as live again once a socket is back, even if no event follows,
   * and the run's state is read again then.
   */
  watchConnected?: (listener: () => void) => () => void;
  /** Timers, replaceable in tests. */
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

/** The wait before re-subscription number `attempt` (1, 2, …): 1 s, 2 s, 4 s, … at most 10 s. */
export function retryDelay(attempt: number): number {
  return Math.min(10_000, 500 * 2 ** Math.max(1, attempt));
}

/**
 * Subscribes to `runEvents(runId, afterSeq)`. An event at or below the last applied seq (a replay) is dropped.
 * When the subscription errors (the socket dropped: the client does not retry on its own, see api/client.ts) it
 * settles from the server at once and subscribes again after `retryDelay`, from the last seq it applied, until
 * stopped. Returns `stop`.
 */
export function followRunEvents<T extends { runEvents?: RunEvent | null }>(
  subscribe: SubscribeFn<T>,
  options: FollowOptions,
): () => void {
  const setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
  const clearTimer = options.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
  let lastSeq = options.afterSeq;
  let stopped = false;
  let attempt = 0;
  let unsubscribe: (() => void) | null = null;
  let timer: unknown = null;
  /** Back after a drop; a socket that just connected is also a moment to read the server's state again. */
  const live = (settle: boolean) => {
    if (!attempt || stopped) return;
    attempt = 0;
    options.onConnection?.("live");
    if (settle) options.onSettle();
  };
  const unwatch = options.watchConnected?.(() => live(true));

  const start = () => {
    timer = null;
    if (stopped) return;
    let ended = false; // this subscription's sink is done: ignore anything it still says
    unsubscribe = subscribe(
      { query: options.query, variables: { runId: options.runId, afterSeq: lastSeq } },
      {
        next: ({ data }) => {
          const event = data?.runEvents;
          if (ended || stopped || !event) return;
          if (event.kind === "STEP_DELTA") {
            options.onDelta?.(event);
            return;
          }
          if (event.seq <= lastSeq) return;
          lastSeq = event.seq;
          live(false);
          options.onEvent(event);
        },
        error: () => {
          if (ended || stopped) return;
          ended = true;
          unsubscribe = null;
          attempt += 1;
          options.onConnection?.("reconnecting");
          options.onSettle(); // converge on the server's state while the socket is down
          timer = setTimer(start, retryDelay(attempt));
        },
        complete: () => {
          if (ended || stopped) return;
          ended = true;
          unsubscribe = null;
          live(false);
          options.onSettle();
        },
      },
    );
  };

  options.onConnection?.("live");
  start();
  return () => {
    stopped = true;
    unwatch?.();
    if (timer !== null) clearTimer(timer);
    timer = null;
    unsubscribe?.();
    unsubscribe = null;
  };
}
