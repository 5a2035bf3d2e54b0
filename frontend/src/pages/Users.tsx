// Users and API keys of the tenant: add a user, change a role, disable or enable one; create an API key (shown
// once), revoke one.
import { useCallback, useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from "react";
import { useMutation, useQuery } from "urql";
import { API_KEYS, CREATE_API_KEY, CREATE_USER, REVOKE_API_KEY, SET_USER_ACTIVE, SET_USER_ROLE, USERS } from "../api/admin";
import { useCan, useViewer } from "../auth";
import { ConfirmDialog } from "../components/Dialog";
import { FieldMessages, GeneralErrors, invalidProps } from "../components/FieldMessages";
import { SecretDialog } from "../components/Secret";
import type { Role, UsersQuery } from "../gql/graphql";
import { NO_ERRORS, fieldErrors, problemText, type FieldErrors } from "../lib/fieldErrors";

/** Lowest to highest, as studio_shared/rbac.py orders them. */
export const ROLES: readonly Role[] = ["VIEWER", "APPROVER", "OPERATOR", "EDITOR", "ADMIN"];

const roleLabel = (r: Role) => r.charAt(0) + r.slice(1).toLowerCase();

export function UsersPage() {
  const users = useCan("users");
  const keys = useCan("apiKeys");
  if (!users && !keys) return <p className="page">Your role may not manage users or API keys.</p>;
  return (
    <main className="page admin">
      <h1>Users and API keys</h1>
      {users ? <UsersSection /> : null}
      {keys ? <ApiKeysSection /> : null}
    </main>
  );
}

function RoleSelect({
  id,
  value,
  onChange,
  max,
  label,
  ...rest
}: {
  id: string;
  value: Role;
  onChange: (r: Role) => void;
  max?: Role;
  label?: string;
  "aria-invalid"?: boolean;
  "aria-describedby"?: string;
}) {
  const top = max ? ROLES.indexOf(max) : ROLES.length - 1;
  return (
    <select id={id} aria-label={label} value={value} onChange={(e) => onChange(e.target.value as Role)} {...rest}>
      {ROLES.filter((_, i) => i <= top).map((r) => (
        <option key={r} value={r}>
          {roleLabel(r)}
        </option>
      ))}
    </select>
  );
}

type UserRow = UsersQuery["users"]["nodes"][number];

/** One page of users (100 at most); tells the section where the next page starts. */
function UserRows({
  after,
  onNext,
  row,
}: {
  after: string | null;
  onNext: (cursor: string | null) => void;
  row: (u: UserRow) => ReactNode;
}) {
  const [{ data, error }] = useQuery({ query: USERS, variables: { after }, requestPolicy: "cache-and-network" });
  const info = data?.users.pageInfo;
  const next = info?.hasNextPage ? (info.endCursor ?? null) : null;
  useEffect(() => onNext(next), [next, onNext]);
  if (error)
    return (
      <tr>
        <td colSpan={5} className="error" role="alert">
          {error.message}
        </td>
      </tr>
    );
  return <>{data?.users.nodes.map(row)}</>;
}

function UsersSection() {
  const viewer = useViewer();
  const [pages, setPages] = useState<(string | null)[]>([null]);
  const [nextCursor, setNextCursor] = useState<string | null>(null);
  const [reloads, setReloads] = useState(0);
  const [pending, setPending] = useState<Record<string, Role>>({});
  const [rowErrors, setRowErrors] = useState<Record<string, string>>({});
  const [notice, setNotice] = useState<string | null>(null);
  const [{ fetching }, setRole] = useMutation(SET_USER_ROLE);
  const [{ fetching: switching }, setActive] = useMutation(SET_USER_ACTIVE);
  const canManage = useCan("users");
  const [disabling, setDisabling] = useState<{ id: string; email: string } | null>(null);
  const [disableError, setDisableError] = useState<string | null>(null);
  const [activeErrors, setActiveErrors] = useState<Record<string, string>>({});
  // The pressed button goes when the list reloads: the focus moves to the row's opposite button once it shows.
  const focusNext = useRef<string | null>(null);
  const focusWhenShown = (key: string) => (el: HTMLButtonElement | null) => {
    if (el && focusNext.current === key) {
      focusNext.current = null;
      el.focus();
    }
  };
  const reload = () => setReloads((n) => n + 1); // every page queries again
  const noop = useCallback(() => {}, []);

  const applyRole = async (userId: string, email: string, role: Role) => {
    const res = await setRole({ userId, role });
    const problem = problemText(res.data?.setUserRole, res.error);
    setRowErrors((e) => ({ ...e, [userId]: problem ?? "" }));
    if (!problem) {
      setPending(({ [userId]: _, ...rest }) => rest);
      setNotice(`${email} is now ${roleLabel(role).toLowerCase()}.`);
      reload();
    }
  };

  /** Disabling goes through the confirmation (its problems show there); enabling applies at once. */
  const applyActive = async (userId: string, email: string, active: boolean): Promise<boolean> => {
    const res = await setActive({ userId, active });
    const problem = problemText(res.data?.setUserActive, res.error);
    if (active) setActiveErrors((e) => ({ ...e, [userId]: problem ?? "" }));
    else setDisableError(problem);
    if (problem) return false;
    setActiveErrors(({ [userId]: _, ...rest }) => rest);
    focusNext.current = `${active ? "disable" : "enable"}-${userId}`;
    setNotice(active ? `${email} is enabled again and may log in.` : `${email} is disabled: they can no longer log in.`);
    reload();
    return true;
  };

  const confirmDisable = async () => {
    if (!disabling) return;
    if (await applyActive(disabling.id, disabling.email, false)) setDisabling(null);
  };

  const renderRow = (u: UserRow) => {
    const chosen = pending[u.id] ?? u.role;
    const problem = rowErrors[u.id];
    return (
      <tr key={u.id}>
        <th scope="row">
          {u.email}
          {u.id === viewer.user?.id ? <span className="hint"> (you)</span> : null}
        </th>
        <td>
          <div className="row tight">
            <RoleSelect
              id={`role-${u.id}`}
              label={`Role of ${u.email}`}
              value={chosen}
              onChange={(r) => setPending((p) => ({ ...p, [u.id]: r }))}
              {...invalidProps(`role-${u.id}-errors`, problem ? [problem] : undefined)}
            />
            <button
              type="button"
              disabled={fetching || chosen === u.role}
              aria-label={`Change the role of ${u.email}`}
              onClick={() => void applyRole(u.id, u.email, chosen)}
            >
              Change role
            </button>
          </div>
          <FieldMessages id={`role-${u.id}-errors`} messages={problem ? [problem] : undefined} />
        </td>
        <td>
          <div className="row tight">
            <span>{u.active ? "active" : "disabled"}</span>
            {canManage && u.active && u.id !== viewer.user?.id ? (
              <button
                type="button"
                className="danger"
                ref={focusWhenShown(`disable-${u.id}`)}
                disabled={switching}
                aria-label={`Disable user ${u.email}`}
                onClick={() => {
                  setDisableError(null);
                  setDisabling({ id: u.id, email: u.email });
                }}
              >
                Disable
              </button>
            ) : null}
            {canManage && !u.active ? (
              <button
                type="button"
                ref={focusWhenShown(`enable-${u.id}`)}
                disabled={switching}
                aria-label={`Enable user ${u.email}`}
                aria-describedby={activeErrors[u.id] ? `active-${u.id}-errors` : undefined}
                onClick={() => void applyActive(u.id, u.email, true)}
              >
                Enable
              </button>
            ) : null}
          </div>
          {activeErrors[u.id] ? (
            <p id={`active-${u.id}-errors`} className="field-error" role="alert">
              {activeErrors[u.id]}
            </p>
          ) : null}
        </td>
        <td>{new Date(u.createdAt).toLocaleString()}</td>
        <td>{u.lastLoginAt ? new Date(u.lastLoginAt).toLocaleString() : "never"}</td>
      </tr>
    );
  };

  return (
    <section aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      <CreateUserForm
        onCreated={(email) => {
          setNotice(`User ${email} added.`);
          reload();
        }}
      />
      <p className="notice" role="status">
        {notice}
      </p>
      <table className="list" aria-label="Users">
        <thead>
          <tr>
            <th scope="col">Email</th>
            <th scope="col">Role</th>
            <th scope="col">Status</th>
            <th scope="col">Created</th>
            <th scope="col">Last login</th>
          </tr>
        </thead>
        <tbody>
          {pages.map((after, i) => (
            <UserRows
              key={`${reloads}-${after ?? ""}`}
              after={after}
              onNext={i === pages.length - 1 ? setNextCursor : noop}
              row={renderRow}
            />
          ))}
        </tbody>
      </table>
      {nextCursor ? (
        <button type="button" onClick={() => setPages((p) => [...p, nextCursor])}>
          Show more users
        </button>
      ) : null}
      {disabling ? (
        <ConfirmDialog
          title={`Disable user ${disabling.email}?`}
          message={
            <p>
              They can no longer log in, and their sessions and open connections stop at once. You can enable them
              again later.
            </p>
          }
          confirmLabel="Disable user"
          busy={switching}
          error={disableError}
          onConfirm={() => void confirmDisable()}
          onCancel={() => setDisabling(null)}
        />
      ) : null}
    </section>
  );
}

function CreateUserForm({ onCreated }: { onCreated: (email: string) => void }) {
  const id = useId();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>("VIEWER");
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [{ fetching }, create] = useMutation(CREATE_USER);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const res = await create({ email, password, role });
    const payload = res.data?.createUser;
    if (payload?.user) {
      setEmail("");
      setPassword("");
      setRole("VIEWER");
      setErrors(NO_ERRORS);
      onCreated(payload.user.email);
      return;
    }
    const mapped = fieldErrors(payload?.errors, ["email", "password", "role"]);
    if (!payload) mapped.general.push(res.error?.message ?? "Could not add the user.");
    setErrors(mapped);
  };
  const err = (f: string) => errors.byField[f];
  return (
    <form className="card" onSubmit={submit} aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>Add a user</h3>
      <div className="row wrap">
        <div className="field">
          <label htmlFor={`${id}-email`}>Email</label>
          <input
            id={`${id}-email`}
            type="email"
            required
            autoComplete="off"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            {...invalidProps(`${id}-email-errors`, err("email"))}
          />
          <FieldMessages id={`${id}-email-errors`} messages={err("email")} />
        </div>
        <div className="field">
          <label htmlFor={`${id}-password`}>Initial password</label>
          <input
            id={`${id}-password`}
            type="password"
            required
            autoComplete="new-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            {...invalidProps(`${id}-password-errors`, err("password"))}
          />
          <FieldMessages id={`${id}-password-errors`} messages={err("password")} />
        </div>
        <div className="field">
          <label htmlFor={`${id}-role`}>Role</label>
          <RoleSelect id={`${id}-role`} value={role} onChange={setRole} {...invalidProps(`${id}-role-errors`, err("role"))} />
          <FieldMessages id={`${id}-role-errors`} messages={err("role")} />
        </div>
      </div>
      <GeneralErrors messages={errors.general} />
      <button type="submit" className="primary" disabled={fetching}>
        Add user
      </button>
    </form>
  );
}

function ApiKeysSection() {
  const viewer = useViewer();
  const id = useId();
  const [{ data, error }, refetch] = useQuery({ query: API_KEYS, requestPolicy: "cache-and-network" });
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("VIEWER");
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [shown, setShown] = useState<{ name: string; key: string } | null>(null);
  const [revoking, setRevoking] = useState<{ id: string; name: string } | null>(null);
  const [revokeError, setRevokeError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [{ fetching: creating }, create] = useMutation(CREATE_API_KEY);
  const [{ fetching: revokingBusy }, revoke] = useMutation(REVOKE_API_KEY);
  const reload = () => refetch({ requestPolicy: "network-only" });
  const keys = data?.apiKeys ?? [];

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const res = await create({ name, role });
    const payload = res.data?.createApiKey;
    if (payload?.apiKey && payload.key) {
      setShown({ name: payload.apiKey.name, key: payload.key });
      setName("");
      setErrors(NO_ERRORS);
      reload();
      return;
    }
    const mapped = fieldErrors(payload?.errors, ["name", "role"]);
    if (!payload) mapped.general.push(res.error?.message ?? "Could not create the key.");
    setErrors(mapped);
  };

  const confirmRevoke = async () => {
    if (!revoking) return;
    const res = await revoke({ id: revoking.id });
    const problem = problemText(res.data?.revokeApiKey, res.error);
    if (problem) {
      setRevokeError(problem);
      return;
    }
    setNotice(`API key ${revoking.name} revoked.`);
    setRevoking(null);
    reload();
  };

  const err = (f: string) => errors.byField[f];
  return (
    <section aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      <form className="card" onSubmit={submit} aria-label="Create an API key">
        <div className="row wrap">
          <div className="field">
            <label htmlFor={`${id}-name`}>Key name</label>
            <input
              id={`${id}-name`}
              required
              value={name}
              onChange={(e) => setName(e.target.value)}
              placeholder="ci-deploy"
              {...invalidProps(`${id}-name-errors`, err("name"))}
            />
            <FieldMessages id={`${id}-name-errors`} messages={err("name")} />
          </div>
          <div className="field">
            <label htmlFor={`${id}-role`}>Key role</label>
            <RoleSelect
              id={`${id}-role`}
              value={role}
              onChange={setRole}
              max={viewer.role}
              {...invalidProps(`${id}-role-errors`, err("role"))}
            />
            <FieldMessages id={`${id}-role-errors`} messages={err("role")} />
          </div>
        </div>
        <GeneralErrors messages={errors.general} />
        <button type="submit" className="primary" disabled={creating}>
          Create API key
        </button>
      </form>
      <p className="notice" role="status">
        {notice}
      </p>
      {error ? (
        <p className="error" role="alert">
          {error.message}
        </p>
      ) : null}
      {data && !keys.length ? <p>No API keys yet.</p> : null}
      {keys.length ? (
        <table className="list" aria-label="API keys">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k.id}>
                <th scope="row">{k.name}</th>
                <td>{roleLabel(k.role)}</td>
                <td>{new Date(k.createdAt).toLocaleString()}</td>
                <td>{k.lastUsedAt ? new Date(k.lastUsedAt).toLocaleString() : "never"}</td>
                <td>
                  {k.revoked ? (
                    "revoked"
                  ) : (
                    <button
                      type="button"
                      className="danger"
                      aria-label={`Revoke API key ${k.name}`}
                      onClick={() => {
                        setRevokeError(null);
                        setRevoking({ id: k.id, name: k.name });
                      }}
                    >
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {shown ? (
        <SecretDialog
          title={`API key ${shown.name}`}
          intro="This key is shown once: copy it now and store it somewhere safe. Send it as 'Authorization: Bearer <key>'."
          items={[{ label: "API key", value: shown.key, copyLabel: "Copy the key" }]}
          onClose={() => setShown(null)}
        />
      ) : null}
      {revoking ? (
        <ConfirmDialog
          title={`Revoke API key ${revoking.name}?`}
          message={<p>Requests with this key fail at once. This cannot be undone.</p>}
          confirmLabel="Revoke key"
          busy={revokingBusy}
          error={revokeError}
          onConfirm={() => void confirmRevoke()}
          onCancel={() => setRevoking(null)}
        />
      ) : null}
    </section>
  );
}
