// Session: the token in localStorage, the API built for it, and `me` (role and permissions).
import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from "react";
import { Provider, useQuery } from "urql";
import { createApi, tokenStore } from "./api/client";
import { ME } from "./api/operations";
import type { Viewer } from "./api/types";
import { can, type Control } from "./lib/permissions";

interface Session {
  token: string | null;
  login(token: string): void;
  logout(): void;
  api: ReturnType<typeof createApi>;
}

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [token, setToken] = useState<string | null>(() => tokenStore.get());
  const logout = useCallback(() => {
    tokenStore.clear();
    setToken(null);
  }, []);
  const login = useCallback((t: string) => {
    tokenStore.set(t);
    setToken(t);
  }, []);
  const api = useMemo(() => createApi(token, logout), [token, logout]);
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

/** Loads `me` once per session (and again when the token changes: a new password brings a new one); children see
 * the viewer through useViewer/useCan. While it loads again, the page stays as it was (nothing unmounts, no work is
 * lost). */
export function ViewerProvider({ children }: { children: ReactNode }) {
  const [{ data, error, fetching }] = useQuery({ query: ME, requestPolicy: "network-only" });
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
  return <ViewerContext.Provider value={viewer}>{children}</ViewerContext.Provider>;
}

export function useViewer(): Viewer {
  const v = useContext(ViewerContext);
  if (!v) throw new Error("useViewer outside ViewerProvider");
  return v;
}

export function useCan(control: Control): boolean {
  return can(useViewer().permissions, control);
}
