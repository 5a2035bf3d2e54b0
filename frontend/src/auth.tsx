// Session: the token in localStorage, the API built for it, and `me` (role and permissions).
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
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

/** Loads `me` once per session; children see the viewer through useViewer/useCan. */
export function ViewerProvider({ children }: { children: ReactNode }) {
  const [{ data, error, fetching }] = useQuery({ query: ME, requestPolicy: "network-only" });
  if (fetching && !data) return <p className="px-6 py-4" role="status">Loading your account…</p>;
  if (error || !data) return (
      <p className="px-6 py-4 text-destructive" role="alert">
        Could not load your account: {error?.message}
      </p>
    );
  return <ViewerContext.Provider value={data.me}>{children}</ViewerContext.Provider>;
}

export function useViewer(): Viewer {
  const v = useContext(ViewerContext);
  if (!v) throw new Error("useViewer outside ViewerProvider");
  return v;
}

export function useCan(control: Control): boolean {
  return can(useViewer().permissions, control);
}
