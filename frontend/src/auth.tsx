// Session: the token in localStorage, the API built for it, and `me` (role and permissions).
import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from "react";
import { Provider, useQuery } from "urql";
import { createApi, tokenStore, type Api } from "./api/client";
import { ME } from "./api/operations";
import type { Viewer } from "./api/types";
import { can, type Control } from "./lib/permissions";

interface Session {
  token: string | null;
  /** Signs in with `token`, or (signed in already) carries on with a new one: a changed password hands one back. */
  login(token: string): void;
  logout(): void;
  api: Api;
}

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [token, setToken] = useState<string | null>(() => tokenStore.get());
  // The API reads the token at each request: a new token keeps the client (and every page's state); only a
  // logout makes a new one, so nothing cached for one user is shown to the next.
  const tokenRef = useRef(token);
  const logoutRef = useRef<() => void>(() => {});
  const [api, setApi] = useState(() => createApi(() => tokenRef.current, () => logoutRef.current()));
  const apiRef = useRef(api);
  apiRef.current = api;
  const logout = useCallback(() => {
    tokenStore.clear();
    tokenRef.current = null;
    setToken(null);
    apiRef.current.ws.terminate();
    setApi(createApi(() => tokenRef.current, () => logoutRef.current()));
  }, []);
  logoutRef.current = logout;
  const login = useCallback((t: string) => {
    const renewed = tokenRef.current !== null;
    tokenStore.set(t);
    tokenRef.current = t;
    setToken(t);
    // The open socket authenticated with the old token: it reconnects with the new one (subscriptions resume).
    if (renewed) apiRef.current.ws.terminate();
  }, []);
  const session = useMemo(() => ({ token, login, logout, api }), [token, login, logout, api]);
  return (
    <SessionContext.Provider value={session}>
      <Provider value={api.client}>{children}</Provider>
    </SessionContext.Provider>
  );
}

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error("useSession outside SessionProvider");
  return s;
}

const ViewerContext = createContext<Viewer | null>(null);
const ViewerRefreshContext = createContext<() => void>(() => {});

/** Reads `me` again (after a password change: a temporary password's restrictions end). */
export function useRefreshViewer(): () => void {
  return useContext(ViewerRefreshContext);
}

/** Loads `me` once per session (and again when the token changes: a new password brings a new one); children see
 * the viewer through useViewer/useCan. While it loads again, the page stays as it was (nothing unmounts, no work is
 * lost). */
export function ViewerProvider({ children }: { children: ReactNode }) {
  const [{ data, error, fetching }, reexecute] = useQuery({ query: ME, requestPolicy: "network-only" });
  const refresh = useCallback(() => reexecute({ requestPolicy: "network-only" }), [reexecute]);
  const last = useRef<Viewer | null>(null);
  if (data) last.current = data.me;
  const viewer = data?.me ?? (fetching ? last.current : null);
  if (!viewer && fetching)
    return (
      <p className="px-6 py-4 text-muted-foreground" role="status">
        Loading your account…
      </p>
    );
  if (error || !viewer)
    return (
      <p className="px-6 py-4 text-destructive" role="alert">
        Could not load your account: {error?.message}
      </p>
    );
  return (
    <ViewerRefreshContext.Provider value={refresh}>
      <ViewerContext.Provider value={viewer}>{children}</ViewerContext.Provider>
    </ViewerRefreshContext.Provider>
  );
}

export function useViewer(): Viewer {
  const v = useContext(ViewerContext);
  if (!v) throw new Error("useViewer outside ViewerProvider");
  return v;
}

export function useCan(control: Control): boolean {
  return can(useViewer().permissions, control);
}
