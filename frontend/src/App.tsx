import { Suspense, lazy, type ComponentType } from "react";
import { BrowserRouter, NavLink, Navigate, Route, Routes, useMatch } from "react-router-dom";
import { SessionProvider, ViewerProvider, useCan, useSession, useViewer } from "./auth";
import { adminNav, type AdminNavEntry } from "./lib/permissions";
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
  return id ? <NavLink to={`/workflows/${id}/triggers`}>Triggers</NavLink> : null;
}

function Shell() {
  const { logout } = useSession();
  const viewer = useViewer();
  const inbox = useCan("inbox");
  const admin = adminNav(viewer.permissions);
  return (
    <div className="shell">
      <header className="topbar">
        <a className="skip-link" href="#main">
          Skip to content
        </a>
        <span className="brand">Workflow Agent Studio</span>
        <nav aria-label="Main">
          <NavLink to="/" end>
            Workflows
          </NavLink>
          {inbox ? <NavLink to="/inbox">Approvals</NavLink> : null}
          <WorkflowTriggersLink />
          {admin.map((entry) => (
            <NavLink key={entry.to} to={entry.to}>
              {entry.label}
            </NavLink>
          ))}
        </nav>
        <span className="who">
          {viewer.user?.email ?? "API key"} · {viewer.tenant.name} · {viewer.role.toLowerCase()}
        </span>
        <button type="button" onClick={logout}>
          Log out
        </button>
      </header>
      <div id="main" className="main">
        <Suspense fallback={<p className="page-status" role="status">Loading…</p>}>
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
            <Route path="*" element={<p className="page">Nothing here. <NavLink to="/">Back to the workflows</NavLink></p>} />
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

export function App() {
  return (
    <BrowserRouter>
      <SessionProvider>
        <Gate />
      </SessionProvider>
    </BrowserRouter>
  );
}
