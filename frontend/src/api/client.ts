// urql over HTTP for queries and mutations; graphql-ws (graphql-transport-ws) for subscriptions.
import { createClient as createWsClient, type Client as WsClient } from "graphql-ws";
import { Client, cacheExchange, fetchExchange, mapExchange, subscriptionExchange } from "urql";
import { trustedDocumentsExchange } from "./trustedDocuments";

const TOKEN_KEY = "studio.token";

export const tokenStore = {
  get: (): string | null => localStorage.getItem(TOKEN_KEY),
  set: (token: string) => localStorage.setItem(TOKEN_KEY, token),
  clear: () => localStorage.removeItem(TOKEN_KEY),
};

export function wsUrl(location: Location = window.location): string {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/graphql`;
}

export interface Api {
  client: Client;
  ws: WsClient;
}

/** A ping every 15 s; no pong within 5 s means a dead (half-open) socket: it is closed and counts as dropped. */
export const KEEP_ALIVE_MS = 15_000;
export const PONG_TIMEOUT_MS = 5_000;

/**
 * One API per session: the token is read at each request and each connection (`token()`), so a new token (a changed
 * password hands one back) needs no new client, and nothing the pages hold is dropped. The socket does not retry on its own (`retryAttempts: 0`): a dropped socket (a closed
 * connection, or a ping left unanswered) ends each subscription with an error, and its owner subscribes again
 * (the lazy client opens a new socket for it) from the last `seq` it applied (see lib/runEventsStream.ts). A
 * retry inside graphql-ws would resend the first subscription's variables, so the stream would restart from its
 * old `afterSeq`, and the owner would not learn that it missed events while the socket was down.
 */
export function createApi(
  token: () => string | null,
  onUnauthenticated: () => void,
  sendDocumentIds: boolean = import.meta.env.PROD,
): Api {
  let pongTimer: ReturnType<typeof setTimeout> | undefined;
  const ws: WsClient = createWsClient({
    url: wsUrl(),
    lazy: true,
    retryAttempts: 0,
    shouldRetry: () => false,
    keepAlive: KEEP_ALIVE_MS,
    on: {
      ping: (received) => {
        if (!received) pongTimer = setTimeout(() => ws.terminate(), PONG_TIMEOUT_MS);
      },
      pong: (received) => {
        if (received) clearTimeout(pongTimer);
      },
      closed: () => clearTimeout(pongTimer),
    },
    connectionParams: () => {
      const current = token();
      return current ? { authorization: `Bearer ${current}` } : {};
    },
  });
  const client = new Client({
    url: "/graphql",
    preferGetMethod: false,
    requestPolicy: "cache-and-network",
    fetchOptions: (): RequestInit => {
      const current = token();
      return current ? { headers: { authorization: `Bearer ${current}` } } : {};
    },
    exchanges: [
      // A rejected token anywhere logs the user out.
      mapExchange({
        onError(error) {
          if (error.graphQLErrors.some((e) => e.extensions?.code === "UNAUTHENTICATED")) onUnauthenticated();
        },
      }),
      trustedDocumentsExchange(sendDocumentIds), // documents by hash (see ./trustedDocuments.ts)
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription: (request) => ({
          subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query ?? "" }, sink) }),
        }),
      }),
    ],
  });
  return { client, ws };
}
