// The workspace's single sign-on (OpenID Connect): the provider's issuer, the client id and secret (write-only: a
// stored secret is kept when the field is left empty), what happens to an unknown email (created with a role, or
// refused), and groups mapped to roles.
import { useEffect, useId, useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { DELETE_OIDC_CONFIG, OIDC_CONFIG, SET_OIDC_CONFIG } from "../api/operations";
import type { Role } from "../gql/graphql";
import { fieldErrors, NO_ERRORS, problemText, type FieldErrors } from "../lib/fieldErrors";
import { ConfirmDelete } from "./ConfirmDelete";
import { Field, FieldMessages, GeneralErrors, Notice, invalidProps } from "./FieldMessages";
import { Alert } from "./ui/alert";
import { Button } from "./ui/button";
import { Card, CardTitle } from "./ui/card";
import { Input } from "./ui/input";
import { Label } from "./ui/label";

const ROLES: Role[] = ["VIEWER" as Role, "APPROVER" as Role, "OPERATOR" as Role, "EDITOR" as Role, "ADMIN" as Role];
const SELECT = "h-9 rounded-md border border-input bg-background px-2 text-sm";

/** "group = ROLE" lines -> mappings; a line without "=" or with an unknown role is reported. */
export function parseGroupRoles(text: string): { mappings: { group: string; role: Role }[]; problem: string | null } {
  const mappings: { group: string; role: Role }[] = [];
  for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const at = line.lastIndexOf("=");
    const group = line.slice(0, at).trim();
    const role = line.slice(at + 1).trim().toUpperCase() as Role;
    if (at < 1 || !group || !ROLES.includes(role)) {
      return { mappings: [], problem: `Write each mapping as "group = ROLE" (one of ${ROLES.join(", ")}): "${line}"` };
    }
    mappings.push({ group, role });
  }
  return { mappings, problem: null };
}

export function SingleSignOnSettings() {
  const id = useId();
  const [{ data, error }, refetch] = useQuery({ query: OIDC_CONFIG, requestPolicy: "cache-and-network" });
  const [{ fetching: saving }, save] = useMutation(SET_OIDC_CONFIG);
  const [, remove] = useMutation(DELETE_OIDC_CONFIG);
  const config = data?.oidcConfig ?? null;
  const [issuer, setIssuer] = useState("");
  const [clientId, setClientId] = useState("");
  const [secret, setSecret] = useState("");
  const [jitRole, setJitRole] = useState<string>("");
  const [groupsClaim, setGroupsClaim] = useState("");
  const [groups, setGroups] = useState("");
  const [domains, setDomains] = useState("");
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    if (!config) return;
    setIssuer(config.issuer);
    setClientId(config.clientId);
    setJitRole(config.jitRole ?? "");
    setGroupsClaim(config.groupsClaim ?? "");
    setGroups(config.groupRoles.map((m) => `${m.group} = ${m.role}`).join("\n"));
    setDomains(config.allowedDomains.join(", "));
  }, [config]);

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    setNotice(null);
    const parsed = parseGroupRoles(groups);
    if (parsed.problem) {
      setErrors({ byField: { groupRoles: [parsed.problem] }, general: [] });
      return;
    }
    const res = await save({
      input: {
        issuer,
        clientId,
        clientSecret: secret || null,
        jitRole: (jitRole || null) as Role | null,
        groupsClaim: groupsClaim.trim() || null,
        groupRoles: parsed.mappings,
        allowedDomains: domains.split(/[\s,]+/).filter(Boolean),
      },
    });
    const payload = res.data?.setOidcConfig;
    if (payload?.oidcConfig) {
      setSecret("");
      setErrors(NO_ERRORS);
      setNotice("Single sign-on saved.");
      refetch({ requestPolicy: "network-only" });
      return;
    }
    const fields = ["issuer", "clientId", "clientSecret", "jitRole", "groupsClaim", "groupRoles", "allowedDomains"];
    const mapped = fieldErrors(payload?.errors, fields, ["input"]);
    if (!payload) mapped.general.push(res.error?.message ?? "Single sign-on was not saved.");
    setErrors(mapped);
  };

  const err = (f: string) => errors.byField[f] ?? [];
  const input = (name: string, label: string, value: string, set: (v: string) => void, extra: Record<string, unknown> = {}) => (
    <Field>
      <Label htmlFor={`${id}-${name}`}>{label}</Label>
      <Input id={`${id}-${name}`} value={value} onChange={(e) => set(e.target.value)} {...extra} {...invalidProps(`${id}-${name}-errors`, err(name))} />
      <FieldMessages id={`${id}-${name}-errors`} messages={err(name)} />
    </Field>
  );

  return (
    <Card asChild className="max-w-xl">
      <form noValidate onSubmit={(e) => void submit(e)} aria-label="Single sign-on">
        <CardTitle asChild>
          <h2>Single sign-on (OpenID Connect)</h2>
        </CardTitle>
        {error ? <Alert variant="destructive">{error.message}</Alert> : null}
        <p className="text-sm text-muted-foreground">
          Register this redirect URI at your provider: <code>{config?.redirectUri ?? `${window.location.origin}/auth/oidc/callback`}</code>
        </p>
        {input("issuer", "Issuer URL", issuer, setIssuer, { placeholder: "https://login.example.org" })}
        {input("clientId", "Client id", clientId, setClientId)}
        {input("clientSecret", "Client secret", secret, setSecret, {
          type: "password",
          autoComplete: "new-password",
          placeholder: config?.clientSecretSet ? "stored: leave empty to keep it" : "",
        })}
        <Field>
          <Label htmlFor={`${id}-jitRole`}>Unknown emails</Label>
          <select id={`${id}-jitRole`} className={SELECT} value={jitRole} onChange={(e) => setJitRole(e.target.value)}>
            <option value="">refuse them (an admin adds users)</option>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                create them as {r.toLowerCase()}
              </option>
            ))}
          </select>
        </Field>
        {input("groupsClaim", "Groups claim (optional)", groupsClaim, setGroupsClaim, { placeholder: "groups" })}
        <Field>
          <Label htmlFor={`${id}-groupRoles`}>Groups to roles, one "group = ROLE" a line</Label>
          <textarea
            id={`${id}-groupRoles`}
            className="min-h-16 rounded-md border border-input bg-background p-2 text-sm"
            value={groups}
            onChange={(e) => setGroups(e.target.value)}
            {...invalidProps(`${id}-groupRoles-errors`, err("groupRoles"))}
          />
          <FieldMessages id={`${id}-groupRoles-errors`} messages={err("groupRoles")} />
        </Field>
        {input("allowedDomains", "Allowed email domains (optional, comma-separated)", domains, setDomains)}
        <GeneralErrors messages={errors.general} />
        <Notice>{notice}</Notice>
        <div className="flex gap-2">
          <Button type="submit" variant="default" disabled={saving}>
            Save single sign-on
          </Button>
          {config ? (
            <ConfirmDelete
              label="Remove"
              name="Remove single sign-on"
              title="Remove single sign-on?"
              message="Signing in with the provider stops at once; users with a password still sign in with it."
              confirmLabel="Remove single sign-on"
              onConfirm={async () => {
                const res = await remove({});
                const problem = problemText(res.data?.deleteOidcConfig, res.error);
                if (problem) return problem;
                setIssuer("");
                setClientId("");
                setNotice("Single sign-on removed.");
                refetch({ requestPolicy: "network-only" });
                return null;
              }}
            />
          ) : null}
        </div>
      </form>
    </Card>
  );
}
