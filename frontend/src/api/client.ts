// urql over HTTP for queries and mutations; graphql-ws (graphql-transport-ws) for subscriptions.
import { createClient as createWsClient, type Client as WsClient } from "graphql-ws";
import { Client, cacheExchange, fetchExchange, mapExchange, subscriptionExchange } from "urql";

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

/**
 * One API per token. The socket does not retry on its own: a dropped socket ends each subscription with an
 * error and its owner re-subscribes from the last `seq` it saw (see useRunEvents), so nothing replays twice.
 */
export function createApi(token: string | null, onUnauthenticated: () => void): Api {
  const ws = createWsClient({
    url: wsUrl(),
    lazy: true,
    retryAttempts: 0,
    connectionParams: () => (token ? { authorization: `Bearer ${token}` } : {}),
  });
  const client = new Client({
    url: "/graphql",
    preferGetMethod: false,
    requestPolicy: "cache-and-network",
    fetchOptions: (): RequestInit => (token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    exchanges: [
      // A rejected token anywhere logs the user out.
      mapExchange({
        onError(error) {
          if (error.graphQLErrors.some((e) => e.extensions?.code === "UNAUTHENTICATED")) onUnauthenticated();
        },
      }),
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
