import { Suspense, lazy, useState, type ComponentType } from "react";
import { NavLink, Navigate, Route, RouterProvider, Routes, createBrowserRouter, useMatch } from "react-router-dom";
import { SessionProvider, ViewerProvider, useCan, useSession, useViewer } from "./auth";
import { adminNav, type AdminNavEntry } from "./lib/permissions";
import { Button } from "./components/ui/button";
import { LoginPage } from "./pages/Login";
import { WorkflowsPage } from "./pages/Workflows";

// The canvas and form libraries load with the first screen that needs them.
const BuilderPage = lazy(() => import("./pages/Builder").then((m) => ({ default: m.BuilderPage })));
const RunMonitorPage = lazy(() => import("./pages/RunMonitor").then((m) => ({ default: m.RunMonitorPage })));
const InboxPage = lazy(() => import("./pages/Inbox").then((m) => ({ default: m.InboxPage })));
const TriggersPage = lazy(() => import("./pages/Triggers").then((m) => ({ default: m.TriggersPage })));
const CredentialsPage = lazy(() => import("./pages/Credentials").then((m) => ({ default: m.CredentialsPage })));
const UsersPage = lazy(() => import("./pages/Users").then((m) => ({ default: m.UsersPage })));
const ADMIN_PAGES: Record<AdminNavEntry["to"], ComponentType> = { "/credentials": CredentialsPage, "/users": UsersPage };

/** In the builder (and on the triggers page): a link to the open workflow's webhooks and schedules. */
function WorkflowTriggersLink() {
  const builder = useMatch("/workflows/:id");
  const triggers = useMatch("/workflows/:id/triggers");
  const id = builder?.params.id ?? triggers?.params.id;
  return id ? (
    <NavLink className={navLink} to={`/workflows/${id}/triggers`}>
      Triggers
    </NavLink>
  ) : null;
}

const navLink = ({ isActive }: { isActive: boolean }) =>
  `rounded-md px-2 py-1 text-foreground hover:bg-accent hover:no-underline ${isActive ? "bg-accent font-semibold" : ""}`;

function Shell() {
  const { logout } = useSession();
  const viewer = useViewer();
  const inbox = useCan("inbox");
  const admin = adminNav(viewer.permissions);
  return (
    <div className="min-h-screen">
      <header className="flex h-12 items-center gap-4 border-b bg-card px-4">
        <a className="sr-only focus:not-sr-only focus:absolute focus:top-2 focus:left-2 focus:bg-card focus:p-1" href="#main">
          Skip to content
        </a>
        <span className="font-bold">Workflow Agent Studio</span>
        <nav aria-label="Main" className="flex flex-1 gap-1">
          <NavLink className={navLink} to="/" end>
            Workflows
          </NavLink>
          {inbox ? (
            <NavLink className={navLink} to="/inbox">
              Approvals
            </NavLink>
          ) : null}
          <WorkflowTriggersLink />
          {admin.map((entry) => (
            <NavLink className={navLink} key={entry.to} to={entry.to}>
              {entry.label}
            </NavLink>
          ))}
        </nav>
        <span className="text-muted-foreground">
          {viewer.user?.email ?? "API key"} · {viewer.tenant.name} · {viewer.role.toLowerCase()}
        </span>
        <Button onClick={logout}>Log out</Button>
      </header>
      <div id="main">
        <Suspense fallback={<p className="px-6 py-4" role="status">Loading…</p>}>
          <Routes>
            <Route path="/" element={<WorkflowsPage />} />
            <Route path="/workflows/:id" element={<BuilderPage />} />
            <Route path="/workflows/:id/triggers" element={<TriggersPage />} />
            <Route path="/runs/:id" element={<RunMonitorPage />} />
            {inbox ? <Route path="/inbox" element={<InboxPage />} /> : null}
            {admin.map(({ to }) => {
              const Page = ADMIN_PAGES[to];
              return <Route key={to} path={to} element={<Page />} />;
            })}
            <Route path="/login" element={<Navigate to="/" replace />} />
            <Route path="*" element={<p className="px-6 py-4">Nothing here. <NavLink to="/">Back to the workflows</NavLink></p>} />
          </Routes>
        </Suspense>
      </div>
    </div>
  );
}

function Gate() {
  const { token } = useSession();
  if (!token) return <LoginPage />;
  return (
    <ViewerProvider>
      <Shell />
    </ViewerProvider>
  );
}

function Root() {
  return (
    <SessionProvider>
      <Gate />
    </SessionProvider>
  );
}

/** A data router (its blocker keeps the builder's unsaved work), one splat route: the shell's <Routes> route the rest. */
export function App() {
  const [router] = useState(() => createBrowserRouter([{ path: "*", element: <Root /> }]));
  return <RouterProvider router={router} />;
}
