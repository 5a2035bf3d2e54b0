// Users and API keys of the tenant: add a user, change a role, disable or enable one, reset one's password (a
// temporary password, shown once); create an API key (shown once), revoke one.
import { useCallback, useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from "react";
import { useMutation, useQuery } from "urql";
import {
  API_KEYS,
  CREATE_API_KEY,
  CREATE_USER,
  RESET_USER_PASSWORD,
  REVOKE_API_KEY,
  SET_USER_ACTIVE,
  SET_USER_ROLE,
  USERS,
} from "../api/admin";
import { useCan, useViewer } from "../auth";
import { ConfirmDelete, RowActions } from "../components/ConfirmDelete";
import { MIN_PASSWORD } from "../components/ChangePassword";
import { Field, FieldDescription, FieldMessages, GeneralErrors, Notice, invalidProps } from "../components/FieldMessages";
import { EmptyState, LoadingState, Page, PageHeader } from "../components/Page";
import { SecretDialog } from "../components/Secret";
import { Alert } from "../components/ui/alert";
import { Badge } from "../components/ui/badge";
import { Button } from "../components/ui/button";
import { Card, CardTitle } from "../components/ui/card";
import { Input } from "../components/ui/input";
import { Label } from "../components/ui/label";
import { NativeSelect } from "../components/ui/native-select";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../components/ui/table";
import type { Role, UsersQuery } from "../gql/graphql";
import { NO_ERRORS, fieldErrors, problemText, type FieldErrors } from "../lib/fieldErrors";
import { useFormCheck } from "../lib/useFormCheck";

/** Lowest to highest, as studio_shared/rbac.py orders them. */
export const ROLES: readonly Role[] = ["VIEWER", "APPROVER", "OPERATOR", "EDITOR", "ADMIN"];

const roleLabel = (r: Role) => r.charAt(0) + r.slice(1).toLowerCase();

export function UsersPage() {
  const users = useCan("users");
  const keys = useCan("apiKeys");
  if (!users && !keys) return <Page>Your role may not manage users or API keys.</Page>;
  return (
    <Page className="gap-8">
      <PageHeader
        title="Users and API keys"
        description="Who may sign in to this workspace and with which role; keys for scripts, each acting for the user who made it."
      />
      {users ? <UsersSection /> : null}
      {keys ? <ApiKeysSection /> : null}
    </Page>
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
    <NativeSelect id={id} aria-label={label} value={value} onChange={(e) => onChange(e.target.value as Role)} {...rest}>
      {ROLES.filter((_, i) => i <= top).map((r) => (
        <option key={r} value={r}>
          {roleLabel(r)}
        </option>
      ))}
    </NativeSelect>
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
  const [{ data, error, fetching }] = useQuery({ query: USERS, variables: { after }, requestPolicy: "cache-and-network" });
  const info = data?.users.pageInfo;
  const next = info?.hasNextPage ? (info.endCursor ?? null) : null;
  useEffect(() => onNext(next), [next, onNext]);
  if (fetching && !data)
    return (
      <TableRow>
        <TableCell colSpan={5}>
          <LoadingState label="Loading the users…" rows={2} />
        </TableCell>
      </TableRow>
    );
  if (error)
    return (
      <TableRow>
        <TableCell colSpan={5} className="text-destructive" role="alert">
          {error.message}
        </TableCell>
      </TableRow>
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

  /** Disabling goes through the confirmation (its problem shows there); enabling applies at once. */
  const applyActive = async (userId: string, email: string, active: boolean): Promise<string | null> => {
    const res = await setActive({ userId, active });
    const problem = problemText(res.data?.setUserActive, res.error);
    if (active) setActiveErrors((e) => ({ ...e, [userId]: problem ?? "" }));
    if (problem) return problem;
    setActiveErrors(({ [userId]: _, ...rest }) => rest);
    focusNext.current = `${active ? "disable" : "enable"}-${userId}`;
    setNotice(active ? `${email} is enabled again and may log in.` : `${email} is disabled: they can no longer log in.`);
    reload();
    return null;
  };

  const renderRow = (u: UserRow) => {
    const chosen = pending[u.id] ?? u.role;
    const problem = rowErrors[u.id];
    return (
      <TableRow key={u.id}>
        <TableHead scope="row" className="max-w-0">
          <span className="block truncate" title={u.email}>
            {u.email}
            {u.id === viewer.user?.id ? <span className="font-normal text-muted-foreground"> (you)</span> : null}
          </span>
          {u.mustChangePassword ? (
            <Badge variant="warning" className="mt-1 font-normal">
              must set a new password
            </Badge>
          ) : null}
        </TableHead>
        <TableCell>
          <div className="flex items-center gap-1.5">
            <RoleSelect
              id={`role-${u.id}`}
              label={`Role of ${u.email}`}
              value={chosen}
              onChange={(r) => setPending((p) => ({ ...p, [u.id]: r }))}
              {...invalidProps(`role-${u.id}-errors`, problem ? [problem] : undefined)}
            />
            <Button
              size="xs"
              disabled={fetching || chosen === u.role}
              aria-label={`Change role of ${u.email}`}
              onClick={() => void applyRole(u.id, u.email, chosen)}
            >
              Change role
            </Button>
          </div>
          <FieldMessages id={`role-${u.id}-errors`} messages={problem ? [problem] : undefined} />
        </TableCell>
        <TableCell>
          <RowActions problem={activeErrors[u.id]} problemId={`active-${u.id}-errors`}>
            <span>{u.active ? "active" : "disabled"}</span>
            {canManage && u.active && u.id !== viewer.user?.id ? (
              <ConfirmDelete
                label="Disable"
                name={`Disable user ${u.email}`}
                title={`Disable user ${u.email}?`}
                message="They can no longer log in, and their sessions and open connections stop at once. You can enable them again later."
                confirmLabel="Disable user"
                triggerRef={focusWhenShown(`disable-${u.id}`)}
                disabled={switching}
                onConfirm={() => applyActive(u.id, u.email, false)}
              />
            ) : null}
            {canManage && u.id !== viewer.user?.id ? (
              <ResetPassword
                user={u}
                onReset={(email) => {
                  setNotice(`The password of ${email} was reset: they were signed out and must set a new one.`);
                  reload();
                }}
              />
            ) : null}
            {canManage && !u.active ? (
              <Button
                size="xs"
                ref={focusWhenShown(`enable-${u.id}`)}
                disabled={switching}
                aria-label={`Enable user ${u.email}`}
                aria-describedby={activeErrors[u.id] ? `active-${u.id}-errors` : undefined}
                onClick={() => void applyActive(u.id, u.email, true)}
              >
                Enable
              </Button>
            ) : null}
          </RowActions>
        </TableCell>
        <TableCell className="text-muted-foreground">{new Date(u.createdAt).toLocaleDateString()}</TableCell>
        <TableCell className="text-muted-foreground">{u.lastLoginAt ? new Date(u.lastLoginAt).toLocaleString() : "never"}</TableCell>
      </TableRow>
    );
  };

  return (
    <section aria-labelledby="users-title" className="flex flex-col gap-3">
      <h2 id="users-title" className="text-lg">Users</h2>
      <CreateUserForm
        onCreated={(email) => {
          setNotice(`User ${email} added.`);
          reload();
        }}
      />
      <Notice>{notice}</Notice>
      <Table aria-label="Users" className="table-fixed">
        <TableHeader>
          <TableRow>
            <TableHead className="w-[28%]">Email</TableHead>
            <TableHead className="w-[22%]">Role</TableHead>
            <TableHead className="w-[26%]">Status</TableHead>
            <TableHead className="w-[12%]">Created</TableHead>
            <TableHead className="w-[12%]">Last login</TableHead>
          </TableRow>
        </TableHeader>
        <TableBody>
          {pages.map((after, i) => (
            <UserRows
              key={`${reloads}-${after ?? ""}`}
              after={after}
              onNext={i === pages.length - 1 ? setNextCursor : noop}
              row={renderRow}
            />
          ))}
        </TableBody>
      </Table>
      {nextCursor ? (
        <Button className="self-start" onClick={() => setPages((p) => [...p, nextCursor])}>
          Show more users
        </Button>
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
  const form = useFormCheck();
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    if (!form.check(e)) return;
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
  const err = (f: string) => form.of(`${id}-${f}`, errors.byField[f]);
  return (
    <Card asChild className="max-w-3xl">
      <form noValidate onSubmit={(e) => void submit(e)} aria-labelledby={`${id}-title`}>
        <CardTitle asChild>
          <h3 id={`${id}-title`}>Add a user</h3>
        </CardTitle>
        <div className="flex flex-wrap items-start gap-3">
          <Field>
            <Label htmlFor={`${id}-email`}>Email</Label>
            <Input
              id={`${id}-email`}
              type="email"
              required
              data-missing="Enter the new user's email."
              autoComplete="off"
              value={email}
              onChange={(e) => {
                setEmail(e.target.value);
                form.clear(`${id}-email`);
              }}
              {...invalidProps(`${id}-email-errors`, err("email"))}
            />
            <FieldMessages id={`${id}-email-errors`} messages={err("email")} />
          </Field>
          <Field>
            <Label htmlFor={`${id}-password`}>Password</Label>
            <Input
              id={`${id}-password`}
              type="password"
              required
              minLength={MIN_PASSWORD}
              data-missing="Choose a password for them."
              autoComplete="new-password"
              value={password}
              onChange={(e) => {
                setPassword(e.target.value);
                form.clear(`${id}-password`);
              }}
              {...invalidProps(`${id}-password-errors`, err("password"), `${id}-password-hint`)}
            />
            <FieldDescription id={`${id}-password-hint`} className="max-w-56">
              At least {MIN_PASSWORD} characters. They change it from their account menu.
            </FieldDescription>
            <FieldMessages id={`${id}-password-errors`} messages={err("password")} />
          </Field>
          <Field>
            <Label htmlFor={`${id}-role`}>Role</Label>
            <RoleSelect id={`${id}-role`} value={role} onChange={setRole} {...invalidProps(`${id}-role-errors`, err("role"))} />
            <FieldMessages id={`${id}-role-errors`} messages={err("role")} />
          </Field>
        </div>
        <GeneralErrors messages={errors.general} />
        <Button type="submit" variant="default" className="self-start" disabled={fetching}>
          Add user
        </Button>
      </form>
    </Card>
  );
}

// How long a new key works: the server refuses more than STUDIO_API_KEY_MAX_TTL_DAYS (a year by default).
const KEY_LIFETIMES: [string, string][] = [
  ["30", "in 30 days"],
  ["90", "in 90 days"],
  ["365", "in a year"],
  ["", "never"],
];

/** The expiry of a key that works ``days`` days from now (null: never). */
export function expiryFrom(days: string): string | null {
  return days ? new Date(Date.now() + Number(days) * 86_400_000).toISOString() : null;
}

function ApiKeysSection() {
  const viewer = useViewer();
  const id = useId();
  const [{ data, error }, refetch] = useQuery({ query: API_KEYS, requestPolicy: "cache-and-network" });
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("VIEWER");
  const [lifetime, setLifetime] = useState<string>("90");
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [shown, setShown] = useState<{ name: string; key: string } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [{ fetching: creating }, create] = useMutation(CREATE_API_KEY);
  const [, revoke] = useMutation(REVOKE_API_KEY);
  const form = useFormCheck();
  const reload = () => refetch({ requestPolicy: "network-only" });
  const keys = data?.apiKeys ?? [];

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    if (!form.check(e)) return;
    const res = await create({ name, role, expiresAt: expiryFrom(lifetime) });
    const payload = res.data?.createApiKey;
    if (payload?.apiKey && payload.key) {
      setShown({ name: payload.apiKey.name, key: payload.key });
      setName("");
      setErrors(NO_ERRORS);
      reload();
      return;
    }
    const mapped = fieldErrors(payload?.errors, ["name", "role", "expiresAt"]);
    if (!payload) mapped.general.push(res.error?.message ?? "Could not create the key.");
    setErrors(mapped);
  };

  const revokeOne = async (key: { id: string; name: string }) => {
    const res = await revoke({ id: key.id });
    const problem = problemText(res.data?.revokeApiKey, res.error);
    if (problem) return problem;
    setNotice(`API key ${key.name} revoked.`);
    reload();
    return null;
  };

  const err = (f: string) => form.of(`${id}-${f}`, errors.byField[f]);
  return (
    <section aria-labelledby="keys-title" className="flex flex-col gap-3">
      <h2 id="keys-title" className="text-lg">API keys</h2>
      <Card asChild className="max-w-3xl">
        <form noValidate onSubmit={(e) => void submit(e)} aria-label="Create an API key">
          <div className="flex flex-wrap items-start gap-3">
            <Field>
              <Label htmlFor={`${id}-name`}>Key name</Label>
              <Input
                id={`${id}-name`}
                required
                data-missing="Name the key after what will use it."
                value={name}
                onChange={(e) => {
                  setName(e.target.value);
                  form.clear(`${id}-name`);
                }}
                placeholder="ci-deploy"
                {...invalidProps(`${id}-name-errors`, err("name"))}
              />
              <FieldMessages id={`${id}-name-errors`} messages={err("name")} />
            </Field>
            <Field>
              <Label htmlFor={`${id}-role`}>Key role</Label>
              <RoleSelect
                id={`${id}-role`}
                value={role}
                onChange={setRole}
                max={viewer.role}
                {...invalidProps(`${id}-role-errors`, err("role"))}
              />
              <FieldMessages id={`${id}-role-errors`} messages={err("role")} />
            </Field>
            <Field>
              <Label htmlFor={`${id}-expires`}>Expires</Label>
              <select
                id={`${id}-expires`}
                className="h-9 rounded-md border border-input bg-background px-2 text-sm"
                value={lifetime}
                onChange={(e) => setLifetime(e.target.value)}
                {...invalidProps(`${id}-expires-errors`, err("expiresAt"))}
              >
                {KEY_LIFETIMES.map(([days, label]) => (
                  <option key={days} value={days}>
                    {label}
                  </option>
                ))}
              </select>
              <FieldMessages id={`${id}-expires-errors`} messages={err("expiresAt")} />
            </Field>
          </div>
          <GeneralErrors messages={errors.general} />
          <Button type="submit" variant="default" className="self-start" disabled={creating}>
            Create API key
          </Button>
        </form>
      </Card>
      <Notice>{notice}</Notice>
      {error ? <Alert variant="destructive">{error.message}</Alert> : null}
      {!data && !error ? <LoadingState label="Loading the API keys…" rows={2} /> : null}
      {data && !keys.length ? (
        <EmptyState icon="lock" title="No API keys yet">
          Create one above for a script or a CI job; it is shown once.
        </EmptyState>
      ) : null}
      {keys.length ? (
        <Table aria-label="API keys">
          <TableHeader>
            <TableRow>
              <TableHead>Name</TableHead>
              <TableHead>Role</TableHead>
              <TableHead>Created</TableHead>
              <TableHead>Acts for</TableHead>
              <TableHead>Last used</TableHead>
              <TableHead>Expires</TableHead>
              <TableHead>Status</TableHead>
            </TableRow>
          </TableHeader>
          <TableBody>
            {keys.map((k) => (
              <TableRow key={k.id}>
                <TableHead scope="row" className="max-w-48">
                  <span className="block truncate" title={k.name}>
                    {k.name}
                  </span>
                </TableHead>
                <TableCell>{roleLabel(k.role)}</TableCell>
                <TableCell>{new Date(k.createdAt).toLocaleString()}</TableCell>
                <TableCell>{k.createdBy?.email ?? "nobody (the key no longer works)"}</TableCell>
                <TableCell>{k.lastUsedAt ? new Date(k.lastUsedAt).toLocaleString() : "never"}</TableCell>
                <TableCell>{k.expiresAt ? new Date(k.expiresAt).toLocaleString() : "no expiry"}</TableCell>
                <TableCell>
                  {k.revoked ? (
                    "revoked"
                  ) : k.expiresAt && new Date(k.expiresAt) <= new Date() ? (
                    "expired"
                  ) : (
                    <ConfirmDelete
                      label="Revoke"
                      name={`Revoke API key ${k.name}`}
                      title={`Revoke API key ${k.name}?`}
                      message="Requests with this key fail at once. This cannot be undone."
                      confirmLabel="Revoke key"
                      onConfirm={() => revokeOne(k)}
                    />
                  )}
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      ) : null}
      {shown ? (
        <SecretDialog
          title={`API key ${shown.name}`}
          intro="This key is shown once: copy it now and store it somewhere safe. Send it as 'Authorization: Bearer <key>'."
          items={[{ label: "API key", value: shown.key, copyLabel: "Copy the key" }]}
          onClose={() => setShown(null)}
        />
      ) : null}
    </section>
  );
}

/** Reset a user's password: after a confirmation, a temporary one shown once; they are signed out everywhere. */
function ResetPassword({ user, onReset }: { user: UserRow; onReset: (email: string) => void }) {
  const [, reset] = useMutation(RESET_USER_PASSWORD);
  const [shown, setShown] = useState<{ password: string; expiresAt: string } | null>(null);
  const confirm = async (): Promise<string | null> => {
    const res = await reset({ userId: user.id });
    const payload = res.data?.resetUserPassword;
    const problem = problemText(payload, res.error);
    if (problem || !payload?.temporaryPassword) return problem ?? "Could not reset the password.";
    setShown({ password: payload.temporaryPassword, expiresAt: payload.expiresAt ?? "" });
    return null;
  };
  return (
    <>
      <ConfirmDelete
        label="Reset password"
        name={`Reset password of ${user.email}`}
        title={`Reset the password of ${user.email}?`}
        message="They are signed out everywhere at once. You get a temporary password to hand them, shown once; it works for a day, and only to set a new password."
        confirmLabel="Reset password"
        onConfirm={confirm}
      />
      {shown ? (
        <SecretDialog
          title={`Temporary password for ${user.email}`}
          intro={`Shown this once: hand it to them privately. It works until ${new Date(shown.expiresAt).toLocaleString()}, and only to set a new password.`}
          items={[{ label: "Temporary password", value: shown.password, copyLabel: "Copy the password" }]}
          onClose={() => {
            setShown(null);
            onReset(user.email);
          }}
        />
      ) : null}
    </>
  );
}
