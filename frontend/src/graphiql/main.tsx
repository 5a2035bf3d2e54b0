// GraphiQL at /graphql (development only), built from npm with the app and served by the studio itself: it works
// offline and under the app's Content-Security-Policy (no CDN, no inline script). Signed in to the studio in this
// browser, its token is in the headers editor and on the websocket, so queries run as you.
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { GraphiQL } from "graphiql";
import "graphiql/setup-workers/vite";
import "graphiql/style.css";
import { createClient } from "graphql-ws";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { tokenStore, wsUrl } from "../api/client";

const DEFAULT_QUERY = `# Workflow Agent Studio's API.
# Ctrl-Enter runs; the book icon opens the docs.
# Signed in to the studio in this browser?
# Your token is in the Headers tab below.
query Me {
  me {
    user { email }
    tenant { slug name }
    role
    permissions
  }
}
`;

const token = tokenStore.get();
const fetcher = createGraphiQLFetcher({
  url: "/graphql",
  wsClient: createClient({ url: wsUrl(), lazy: true, connectionParams: () => (token ? { authorization: `Bearer ${token}` } : {}) }),
});

createRoot(document.getElementById("graphiql")!).render(
  <StrictMode>
    <GraphiQL
      fetcher={fetcher}
      defaultQuery={DEFAULT_QUERY}
      defaultHeaders={token ? JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2) : undefined}
      isHeadersEditorEnabled
    />
  </StrictMode>,
);
