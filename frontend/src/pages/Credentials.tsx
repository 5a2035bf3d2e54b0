// Credentials: names and metadata of the tenant's secrets; create one (its value is write-only), delete one.
import { useId, useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { CREATE_CREDENTIAL, CREDENTIALS, DELETE_CREDENTIAL } from "../api/admin";
import { useCan } from "../auth";
import { ConfirmDelete } from "../components/ConfirmDelete";
import { Field, FieldDescription, FieldMessages, GeneralErrors, Notice, invalidProps } from "../components/FieldMessages";
import { EmptyState, LoadingState, Page, PageHeader } from "../components/Page";
import { Alert } from "../components/ui/alert";
import { Button } from "../components/ui/button";
import { Card, CardTitle } from "../components/ui/card";
import { Input } from "../components/ui/input";
import { Label } from "../components/ui/label";
import { NativeSelect } from "../components/ui/native-select";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../components/ui/table";
import {
  CREDENTIAL_KINDS,
  KIND_NAMES,
  credentialErrorFields,
  credentialInput,
  type CredentialKind,
} from "../lib/credentials";
import { NO_ERRORS, fieldErrors, problemText, type FieldErrors } from "../lib/fieldErrors";
import { useFormCheck } from "../lib/useFormCheck";

export function CredentialsPage() {
  const allowed = useCan("credentials");
  const [{ data, error, fetching }, refetch] = useQuery({
    query: CREDENTIALS,
    requestPolicy: "cache-and-network",
    pause: !allowed,
  });
  const [notice, setNotice] = useState<string | null>(null);
  const [, remove] = useMutation(DELETE_CREDENTIAL);
  const reload = () => refetch({ requestPolicy: "network-only" });

  if (!allowed) return <Page>Your role may not manage credentials.</Page>;
  const list = data?.credentials ?? [];

  const deleteOne = async (c: { id: string; name: string }) => {
    const res = await remove({ id: c.id });
    const problem = problemText(res.data?.deleteCredential, res.error);
    if (problem) return problem;
    setNotice(`Credential ${c.name} deleted.`);
    reload();
    return null;
  };

  return (
    <Page>
      <PageHeader
        title="Credentials"
        description="Nodes use a credential by name. Its value is encrypted, never shown again and never sent to the browser."
      />
      <CredentialForm
        onCreated={(name) => {
          setNotice(`Credential ${name} saved. Its value cannot be shown again.`);
          reload();
        }}
      />
      <Notice>{notice}</Notice>
      {error ? <Alert variant="destructive">{error.message}</Alert> : null}
      {fetching && !data ? <LoadingState label="Loading the credentials…" rows={2} /> : null}
      {data && !list.length ? (
        <EmptyState icon="lock" title="No credentials yet">
          Save a token, a password or a server's settings above; an HTTP request, LLM, email or SQL node then names it in its Credential field.
        </EmptyState>
      ) : null}
      {list.length ? (
        <Table aria-label="Credentials">
          <TableHeader>
            <TableRow>
              <TableHead>Name</TableHead>
              <TableHead>Kind</TableHead>
              <TableHead>Allowed hosts</TableHead>
              <TableHead>Created</TableHead>
              <TableHead>
                <span className="sr-only">Actions</span>
              </TableHead>
            </TableRow>
          </TableHeader>
          <TableBody>
            {list.map((c) => (
              <TableRow key={c.id}>
                <TableHead scope="row" className="max-w-56">
                  <span className="block truncate" title={c.name}>
                    {c.name}
                  </span>
                </TableHead>
                <TableCell>{c.kind}</TableCell>
                <TableCell>
                  {c.allowedHosts?.length ? c.allowedHosts.join(", ") : <span className="text-muted-foreground">any host</span>}
                </TableCell>
                <TableCell>{new Date(c.createdAt).toLocaleString()}</TableCell>
                <TableCell>
                  <ConfirmDelete
                    name={`Delete credential ${c.name}`}
                    title={`Delete credential ${c.name}?`}
                    message="Steps that use it fail with CredentialNotFound from now on. This cannot be undone."
                    confirmLabel="Delete credential"
                    onConfirm={() => deleteOne(c)}
                  />
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      ) : null}
    </Page>
  );
}

/** Name, kind, the kind's value fields (secrets as password inputs) and allowed hosts; clears after saving. */
export function CredentialForm({ onCreated }: { onCreated: (name: string) => void }) {
  const id = useId();
  const [name, setName] = useState("");
  const [kind, setKind] = useState<CredentialKind>("bearer");
  const [values, setValues] = useState<Record<string, string>>({});
  const [hosts, setHosts] = useState("");
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [{ fetching }, create] = useMutation(CREATE_CREDENTIAL);
  const form = useFormCheck();

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    if (!form.check(e)) return;
    const res = await create({ input: credentialInput(name, kind, values, hosts) });
    const payload = res.data?.createCredential;
    if (payload?.credential) {
      // The value leaves the page with the request: nothing of it stays in the form.
      setName("");
      setValues({});
      setHosts("");
      setErrors(NO_ERRORS);
      onCreated(payload.credential.name);
      return;
    }
    const mapped = fieldErrors(payload?.errors, credentialErrorFields(kind));
    if (!payload) mapped.general.push(res.error?.message ?? "Could not save the credential.");
    setErrors(mapped);
  };

  const fid = (field: string) => `${id}-${field}`;
  // The browser's own checks (a required field left empty) under the field, then the server's.
  const CONTROL: Record<string, string> = { name: fid("name"), kind: fid("kind"), allowedHosts: fid("hosts") };
  const err = (field: string) =>
    form.of(CONTROL[field] ?? (field.startsWith("value.") ? fid(`value-${field.slice(6)}`) : field), errors.byField[field]);
  return (
    <Card asChild className="max-w-xl">
      <form noValidate onSubmit={(e) => void submit(e)} aria-labelledby={`${id}-title`} autoComplete="off">
        <CardTitle asChild>
          <h2 id={`${id}-title`}>New credential</h2>
        </CardTitle>
        <Field>
          <Label htmlFor={fid("name")}>Name</Label>
          <Input
            id={fid("name")}
            required
            data-missing="Name the credential: nodes refer to it by this name."
            value={name}
            onChange={(e) => {
              setName(e.target.value);
              form.clear(fid("name"));
            }}
            placeholder="github-token"
            {...invalidProps(`${fid("name")}-errors`, err("name"))}
          />
          <FieldMessages id={`${fid("name")}-errors`} messages={err("name")} />
        </Field>
        <Field>
          <Label htmlFor={fid("kind")}>Kind</Label>
          <NativeSelect
            id={fid("kind")}
            value={kind}
            onChange={(e) => {
              setKind(e.target.value as CredentialKind);
              setValues({}); // another kind's fields never go along
              setErrors(NO_ERRORS);
            }}
            {...invalidProps(`${fid("kind")}-errors`, err("kind"))}
          >
            {KIND_NAMES.map((k) => (
              <option key={k} value={k}>
                {CREDENTIAL_KINDS[k].label}
              </option>
            ))}
          </NativeSelect>
          <FieldMessages id={`${fid("kind")}-errors`} messages={err("kind")} />
        </Field>
        <fieldset className="grid gap-3 rounded-md border p-3 pt-1">
          <legend className="px-1 text-sm font-semibold">Value (write-only)</legend>
          {CREDENTIAL_KINDS[kind].fields.map((f) => {
            const key = `value.${f.key}`;
            const inputId = fid(`value-${f.key}`);
            const hintId = f.hint ? `${inputId}-hint` : undefined;
            const common = {
              id: inputId,
              ...invalidProps(`${inputId}-errors`, err(key), hintId),
            };
            const set = (next: string) => {
              setValues((v) => ({ ...v, [f.key]: next }));
              form.clear(inputId);
            };
            return (
              <Field key={`${kind}-${f.key}`}>
                <Label htmlFor={inputId}>
                  {f.label}
                  {f.required || f.input === "select" ? "" : " (optional)"}
                </Label>
                {f.input === "select" ? (
                  <NativeSelect {...common} className="w-full" value={values[f.key] ?? f.options?.[0]?.value ?? ""} onChange={(e) => set(e.target.value)}>
                    {f.options?.map((o) => (
                      <option key={o.value} value={o.value}>
                        {o.label}
                      </option>
                    ))}
                  </NativeSelect>
                ) : (
                  <Input
                    {...common}
                    type={f.secret ? "password" : f.input === "integer" ? "number" : "text"}
                    inputMode={f.input === "integer" ? "numeric" : undefined}
                    min={f.input === "integer" ? 1 : undefined}
                    max={f.input === "integer" ? 65535 : undefined}
                    autoComplete={f.secret ? "new-password" : "off"}
                    spellCheck={false}
                    required={f.required}
                    data-missing={`Enter the ${f.label.toLowerCase()}.`}
                    placeholder={f.placeholder}
                    value={values[f.key] ?? ""}
                    onChange={(e) => set(e.target.value)}
                  />
                )}
                {f.hint ? <FieldDescription id={hintId}>{f.hint}</FieldDescription> : null}
                <FieldMessages id={`${inputId}-errors`} messages={err(key)} />
              </Field>
            );
          })}
          <FieldMessages id={`${fid("value")}-errors`} messages={err("value")} />
        </fieldset>
        <Field>
          <Label htmlFor={fid("hosts")}>Allowed hosts (optional)</Label>
          <Input
            id={fid("hosts")}
            value={hosts}
            onChange={(e) => setHosts(e.target.value)}
            placeholder="api.example.org, *.example.org"
            {...invalidProps(`${fid("hosts")}-errors`, err("allowedHosts"), `${fid("hosts")}-hint`)}
          />
          <FieldDescription id={`${fid("hosts")}-hint`}>
            Separate hosts with commas. Empty: any host outbound connections may reach
            {kind === "openai" ? " (an OpenAI credential always goes to its base URL's host)" : ""}
            {kind === "smtp" || kind === "postgres" ? " (the connection goes to the host above, through the same egress policy as HTTP)" : ""}.
          </FieldDescription>
          <FieldMessages id={`${fid("hosts")}-errors`} messages={err("allowedHosts")} />
        </Field>
        <GeneralErrors messages={errors.general} />
        <Button type="submit" variant="default" className="self-start" disabled={fetching}>
          Save credential
        </Button>
      </form>
    </Card>
  );
}
