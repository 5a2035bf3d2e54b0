// A fake GraphQL server with live subscriptions: queries and mutations are answered by name (like answeringClient),
// and each open subscription waits for the test to `push` a result to it, as the server would over the socket.
import { Client, getOperationName, makeErrorResult, makeResult, type Exchange, type Operation } from "urql";
import { filter, make, map, merge, mergeMap, pipe, share, takeUntil } from "wonka";

// biome-ignore lint/suspicious/noExplicitAny: each answer reads the variables of its own operation, whose shape its test knows
type Answer = (variables: any) => unknown;

export function liveClient(answers: Record<string, Answer>) {
  const calls: Operation[] = [];
  const open = new Map<number, { name: string; next: (data: unknown) => void; fail: () => void }>();
  const exchange: Exchange = () => (ops$) => {
    const shared = pipe(ops$, share);
    const answered = pipe(
      shared,
      filter((op) => op.kind === "query" || op.kind === "mutation"),
      map((op) => {
        calls.push(op);
        return makeResult(op, { data: answers[getOperationName(op.query) ?? ""]?.(op.variables) ?? null });
      }),
    );
    const live = pipe(
      shared,
      filter((op) => op.kind === "subscription"),
      mergeMap((op) => {
        calls.push(op);
        return pipe(
          make<ReturnType<typeof makeResult>>((observer) => {
            open.set(op.key, {
              name: getOperationName(op.query) ?? "",
              next: (data) => observer.next(makeResult(op, { data: data as Record<string, unknown> })),
              // What urql's subscriptionExchange sends when the socket drops: an error result, then nothing more.
              fail: () => observer.next(makeErrorResult(op, new Error("socket closed"))),
            });
            return () => open.delete(op.key);
          }),
          takeUntil(pipe(shared, filter((t) => t.kind === "teardown" && t.key === op.key))),
        );
      }),
    );
    return merge([answered, live]);
  };
  const client = new Client({ url: "http://studio.test/graphql", exchanges: [exchange] });
  return {
    client,
    calls,
    named: (name: string) => calls.filter((c) => getOperationName(c.query) === name),
    /** Sends `data` to every open subscription named `name`; returns how many received it. */
    push(name: string, data: unknown): number {
      const targets = [...open.values()].filter((s) => s.name === name);
      for (const s of targets) s.next(data);
      return targets.length;
    },
    /** Drops every open subscription named `name` as a lost socket would. */
    fail(name: string): void {
      for (const s of [...open.values()].filter((t) => t.name === name)) s.fail();
    },
  };
}
