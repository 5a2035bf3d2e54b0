import { Suspense, lazy, useState, type ComponentType } from "react";
import { NavLink, Navigate, Route, RouterProvider, Routes, createBrowserRouter, useMatch } from "react-router-dom";
import { SessionProvider, ViewerProvider, useCan, useSession, useViewer } from "./auth";
import { adminNav, type AdminNavEntry } from "./lib/permissions";
import { TaskFeedProvider } from "./lib/taskFeed";
import { InboxLink } from "./components/InboxLink";
import { AccountMenu, ThemeToggle } from "./components/AccountMenu";
import { SetNewPasswordPage } from "./components/ChangePassword";
import { Spinner } from "./components/Page";
import { LoginPage } from "./pages/Login";
import { WorkflowsPage } from "./pages/Workflows";

// The canvas and form libraries load with the first screen that needs them.
const BuilderPage = lazy(() => import("./pages/Builder").then((m) => ({ default: m.BuilderPage })));
const RunMonitorPage = lazy(() => import("./pages/RunMonitor").then((m) => ({ default: m.RunMonitorPage })));
const InboxPage = lazy(() => import("./pages/Inbox").then((m) => ({ default: m.InboxPage })));
const RunsPage = lazy(() => import("./pages/Runs").then((m) => ({ default: m.RunsPage })));
const TriggersPage = lazy(() => import("./pages/Triggers").then((m) => ({ default: m.TriggersPage })));
const CredentialsPage = lazy(() => import("./pages/Credentials").then((m) => ({ default: m.CredentialsPage })));
const UsersPage = lazy(() => import("./pages/Users").then((m) => ({ default: m.UsersPage })));
const SettingsPage = lazy(() => import("./pages/Settings").then((m) => ({ default: m.SettingsPage })));
const AuditPage = lazy(() => import("./pages/Audit").then((m) => ({ default: m.AuditPage })));
const ADMIN_PAGES: Record<AdminNavEntry["to"], ComponentType> = {
  "/credentials": CredentialsPage,
  "/users": UsersPage,
  "/settings": SettingsPage,
  "/audit": AuditPage,
};

/** In the builder (and on the triggers page): a link to the open workflow's webhooks and schedules. */
function WorkflowTriggersLink() {
  const builder = useMatch("/workflows/:id");
  const triggers = useMatch("/workflows/:id/triggers");
  const runs = useMatch("/workflows/:id/runs");
  const id = builder?.params.id ?? triggers?.params.id ?? runs?.params.id;
  return id ? (
    <NavLink className={navLink} to={`/workflows/${id}/triggers`}>
      Triggers
    </NavLink>
  ) : null;
}

export const navLink = ({ isActive }: { isActive: boolean }) =>
  `rounded-md px-2.5 py-1.5 text-sm font-medium hover:bg-accent hover:no-underline ${isActive ? "bg-accent text-foreground" : "text-muted-foreground hover:text-foreground"}`;

/** The studio's mark: a small graph, in the primary colour. */
function Brand() {
  return (
    <span className="flex shrink-0 items-center gap-2 font-semibold">
      <svg viewBox="0 0 24 24" aria-hidden="true" className="size-6 text-primary" fill="none" stroke="currentColor" strokeWidth={2} strokeLinecap="round" strokeLinejoin="round">
        <rect x="3" y="3" width="7" height="7" rx="1.5" />
        <rect x="14" y="14" width="7" height="7" rx="1.5" />
        <path d="M10 6.5h4a3 3 0 0 1 3 3V14" />
      </svg>
      <span className="hidden lg:inline">Workflow Agent Studio</span>
    </span>
  );
}

function Shell() {
  const viewer = useViewer();
  const inbox = useCan("inbox");
  const decides = useCan("decideTask");
  const runs = useCan("runs");
  const admin = adminNav(viewer.permissions);
  // An admin's reset left a temporary password: the API admits only setting a new one.
  if (viewer.user?.mustChangePassword) return <SetNewPasswordPage email={viewer.user.email} />;
  return (
    <TaskFeedProvider enabled={inbox} mine={decides}>
    <div className="min-h-screen">
      <header className="flex h-12 items-center gap-3 border-b bg-card px-4">
        <a className="sr-only focus:not-sr-only focus:absolute focus:top-2 focus:left-2 focus:bg-card focus:p-1" href="#main">
          Skip to content
        </a>
        <Brand />
        <nav aria-label="Main" className="flex min-w-0 flex-1 gap-0.5">
          <NavLink className={navLink} to="/" end>
            Workflows
          </NavLink>
          {runs ? (
            <NavLink className={navLink} to="/runs" end>
              Runs
            </NavLink>
          ) : null}
          {inbox ? <InboxLink className={navLink} /> : null}
          <WorkflowTriggersLink />
          {admin.map((entry) => (
            <NavLink className={navLink} key={entry.to} to={entry.to}>
              {entry.label}
            </NavLink>
          ))}
        </nav>
        <span className="hidden shrink-0 text-xs text-muted-foreground xl:inline" title={`Workspace slug: ${viewer.tenant.slug}`}>
          {viewer.tenant.name} · {viewer.role.toLowerCase()}
        </span>
        <ThemeToggle />
        <AccountMenu />
      </header>
      <div id="main">
        <Suspense fallback={<Spinner label="Loading…" className="px-6 py-4" />}>
          <Routes>
            <Route path="/" element={<WorkflowsPage />} />
            <Route path="/workflows/:id" element={<BuilderPage />} />
            <Route path="/workflows/:id/triggers" element={<TriggersPage />} />
            <Route path="/runs/:id" element={<RunMonitorPage />} />
            {runs ? <Route path="/runs" element={<RunsPage />} /> : null}
            {runs ? <Route path="/workflows/:id/runs" element={<RunsPage />} /> : null}
            {inbox ? <Route path="/inbox" element={<InboxPage />} /> : null}
            {admin.map(({ to }) => {
              const Page = ADMIN_PAGES[to];
              return <Route key={to} path={to} element={<Page />} />;
            })}
            <Route path="/login" element={<Navigate to="/" replace />} />
            <Route path="*" element={<NotFound />} />
          </Routes>
        </Suspense>
      </div>
    </div>
    </TaskFeedProvider>
  );
}

function NotFound() {
  return (
    <main className="grid gap-2 px-6 py-6">
      <h1>Page not found</h1>
      <p>
        Nothing here. <NavLink to="/">Back to the workflows</NavLink>
      </p>
    </main>
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
