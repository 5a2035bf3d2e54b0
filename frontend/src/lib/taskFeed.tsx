// The tenant's approval tasks, live: one `humanTaskUpdates` subscription for the whole app (the server caps
// subscriptions per connection), feeding the navigation's count of open tasks and the inbox page. The count is the
// server's (`humanTaskCount`), read again after every change it hears of, so it never drifts; a dropped subscription
// reads it again and subscribes anew (1 s doubling to 10 s), as the run monitor does.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, type ReactNode } from "react";
import { useClient, useQuery } from "urql";
import { onEnd, pipe, subscribe } from "wonka";
import { HUMAN_TASK_UPDATES, OPEN_TASK_COUNT } from "../api/operations";
import type { InboxTaskFieldsFragment } from "../gql/graphql";
import { retryDelay } from "./runEventsStream";

export type LiveTask = InboxTaskFieldsFragment;
type Listener = (task: LiveTask) => void;

interface TaskFeed {
  /** Open tasks the viewer may decide (every open task for a role that decides nothing); null until known. */
  openCount: number | null;
  /** Calls `listener` with every task the feed hears of (opened, decided, expired, cancelled); returns the unlisten. */
  listen(listener: Listener): () => void;
  /** Listeners that must read again after a gap (the subscription dropped and came back). */
  onResync(listener: () => void): () => void;
}

const TaskFeedContext = createContext<TaskFeed | null>(null);

/** How long the count waits after a change before it is read again (a burst of decisions costs one read). */
export const COUNT_DEBOUNCE_MS = 250;

export function TaskFeedProvider({ enabled, mine, children }: { enabled: boolean; mine: boolean; children: ReactNode }) {
  const client = useClient();
  const [{ data }, refetchCount] = useQuery({
    query: OPEN_TASK_COUNT,
    variables: { mine },
    requestPolicy: "network-only",
    pause: !enabled,
  });
  const listeners = useRef(new Set<Listener>());
  const resyncs = useRef(new Set<() => void>());
  const recount = useRef<ReturnType<typeof setTimeout> | null>(null);
  const readCount = useCallback(() => {
    if (recount.current) clearTimeout(recount.current);
    recount.current = setTimeout(() => {
      recount.current = null;
      refetchCount({ requestPolicy: "network-only" });
    }, COUNT_DEBOUNCE_MS);
  }, [refetchCount]);

  useEffect(() => {
    if (!enabled) return;
    let stopped = false;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let unsubscribe: (() => void) | null = null;
    // urql's subscription results may repeat the last one (stack.md): a task's change is its id and updatedAt-less
    // snapshot, so an identical one in a row is dropped.
    let last = "";
    const start = () => {
      timer = null;
      if (stopped) return;
      let ended = false;
      let stop: (() => void) | null = null;
      // Ended (the socket dropped: an error result, after which urql sends nothing more; or the server completed
      // it): read what changed meanwhile, then follow again after a pause that grows while it keeps failing.
      const restart = (failed: boolean) => {
        if (ended || stopped) return;
        ended = true;
        queueMicrotask(() => stop?.());
        attempt = failed ? attempt + 1 : 1;
        readCount();
        for (const resync of resyncs.current) resync();
        timer = setTimeout(start, retryDelay(attempt));
      };
      ({ unsubscribe: stop } = pipe(
        client.subscription(HUMAN_TASK_UPDATES, {}),
        onEnd(() => restart(false)),
        subscribe((result) => {
          if (ended) return;
          if (result.error) return restart(true);
          const task = result.data?.humanTaskUpdates;
          if (!task) return;
          attempt = 0;
          const key = JSON.stringify(task);
          if (key === last) return;
          last = key;
          for (const listener of listeners.current) listener(task);
          readCount();
        }),
      ));
      unsubscribe = () => {
        ended = true;
        stop?.();
      };
    };
    start();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      unsubscribe?.();
    };
  }, [client, enabled, readCount]);

  useEffect(
    () => () => {
      if (recount.current) clearTimeout(recount.current);
    },
    [],
  );

  const openCount = enabled ? (data?.humanTaskCount ?? null) : null;
  const feed = useMemo<TaskFeed>(
    () => ({
      openCount,
      listen(listener) {
        listeners.current.add(listener);
        return () => listeners.current.delete(listener);
      },
      onResync(listener) {
        resyncs.current.add(listener);
        return () => resyncs.current.delete(listener);
      },
    }),
    [openCount],
  );
  return <TaskFeedContext.Provider value={feed}>{children}</TaskFeedContext.Provider>;
}

export function useTaskFeed(): TaskFeed {
  const feed = useContext(TaskFeedContext);
  if (!feed) throw new Error("useTaskFeed outside TaskFeedProvider");
  return feed;
}

/** "99+" past 99; the server counts up to 1,000 (a badge, not a report). */
export function countLabel(count: number): string {
  return count > 99 ? "99+" : String(count);
}
