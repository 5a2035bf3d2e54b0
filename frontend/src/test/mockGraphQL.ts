// A fake GraphQL server for component tests: a `fetch` that answers each operation by name from handlers,
// and a urql Client on it. Every request is recorded with its variables.
import { Client, fetchExchange, getOperationName, makeResult, type Exchange, type Operation } from "urql";
import { vi } from "vitest";
import { filter, map, pipe } from "wonka";

// biome-ignore lint/suspicious/noExplicitAny: a handler reads the variables of its own operation, whose shape its test knows
export type Handler = (variables: Record<string, any>) => unknown;

export interface Call {
  operationName: string;
  // biome-ignore lint/suspicious/noExplicitAny: as Handler's: each test reads the variables of the operation it checks
  variables: Record<string, any>;
}

export function mockFetch(handlers: Record<string, Handler>) {
  const calls: Call[] = [];
  const fetch = vi.fn(async (_url: RequestInfo | URL, init?: RequestInit) => {
    const body = JSON.parse(String(init?.body ?? "{}")) as { operationName?: string; query?: string; variables?: Record<string, unknown> };
    const operationName = body.operationName ?? /(?:query|mutation)\s+(\w+)/.exec(body.query ?? "")?.[1] ?? "";
    const variables = body.variables ?? {};
    calls.push({ operationName, variables });
    const handler = handlers[operationName];
    const payload = handler ? { data: handler(variables) } : { errors: [{ message: `no mock for ${operationName}` }] };
    return new Response(JSON.stringify(payload), { status: 200, headers: { "content-type": "application/json" } });
  });
  return { fetch, calls, named: (name: string) => calls.filter((c) => c.operationName === name) };
}

export function mockClient(handlers: Record<string, Handler>) {
  const mock = mockFetch(handlers);
  const client = new Client({ url: "http://studio.test/graphql", exchanges: [fetchExchange], fetch: mock.fetch, preferGetMethod: false });
  return { ...mock, client };
}

/** A urql Client answering each operation by name, synchronously (subscriptions too); records every operation. */
export function answeringClient(answers: Record<string, (variables: never) => unknown>, calls: Operation[] = []): Client {
  const exchange: Exchange = () => (ops$) =>
    pipe(
      ops$,
      filter((op) => op.kind !== "teardown"),
      map((op) => {
        calls.push(op);
        return makeResult(op, { data: answers[getOperationName(op.query) ?? ""]?.(op.variables as never) ?? null });
      }),
    );
  return new Client({ url: "http://studio.test/graphql", exchanges: [exchange] });
}

// The contract's matrix (studio_shared/rbac.py): each role has its own permissions and every lower role's.
export const ROLE_PERMISSIONS = (() => {
  const VIEWER = ["workflow:read", "run:read", "artifact:read", "task:read"];
  const APPROVER = [...VIEWER, "task:decide"];
  const OPERATOR = [...APPROVER, "run:start", "run:cancel", "run:retry", "run:signal", "message:send"];
  const EDITOR = [...OPERATOR, "workflow:write", "workflow:publish", "workflow:test", "trigger:manage"];
  const ADMIN = [
  ...EDITOR,
  "credential:manage",
  "user:manage",
  "apikey:manage",
  "audit:read",
  "tenant:manage",
  "conversation:manage",
];
  return { VIEWER, APPROVER, OPERATOR, EDITOR, ADMIN };
})();
