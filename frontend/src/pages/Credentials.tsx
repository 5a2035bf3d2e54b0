// Credentials: names and metadata of the tenant's secrets; create one (its value is write-only), delete one.
import { useId, useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { CREATE_CREDENTIAL, CREDENTIALS, DELETE_CREDENTIAL } from "../api/admin";
import { useCan } from "../auth";
import { ConfirmDialog } from "../components/Dialog";
import { FieldMessages, GeneralErrors, invalidProps } from "../components/FieldMessages";
import {
  CREDENTIAL_KINDS,
  KIND_NAMES,
  credentialErrorFields,
  credentialInput,
  type CredentialKind,
} from "../lib/credentials";
import { NO_ERRORS, fieldErrors, problemText, type FieldErrors } from "../lib/fieldErrors";

export function CredentialsPage() {
  const allowed = useCan("credentials");
  const [{ data, error, fetching }, refetch] = useQuery({
    query: CREDENTIALS,
    requestPolicy: "cache-and-network",
    pause: !allowed,
  });
  const [deleting, setDeleting] = useState<{ id: string; name: string } | null>(null);
  const [deleteError, setDeleteError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [{ fetching: busy }, remove] = useMutation(DELETE_CREDENTIAL);
  const reload = () => refetch({ requestPolicy: "network-only" });

  if (!allowed) return <p className="page">Your role may not manage credentials.</p>;
  const list = data?.credentials ?? [];

  const confirmDelete = async () => {
    if (!deleting) return;
    const res = await remove({ id: deleting.id });
    const problem = problemText(res.data?.deleteCredential, res.error);
    if (problem) {
      setDeleteError(problem);
      return;
    }
    setNotice(`Credential ${deleting.name} deleted.`);
    setDeleting(null);
    reload();
  };

  return (
    <main className="page admin">
      <h1>Credentials</h1>
      <p className="hint">
        Nodes use a credential by name. Its value is encrypted, never shown again and never sent to the browser.
      </p>
      <CredentialForm
        onCreated={(name) => {
          setNotice(`Credential ${name} saved. Its value cannot be shown again.`);
          reload();
        }}
      />
      <p className="notice" role="status">
        {notice}
      </p>
      {error ? (
        <p className="error" role="alert">
          {error.message}
        </p>
      ) : null}
      {fetching && !data ? <p role="status">Loading…</p> : null}
      {data && !list.length ? <p>No credentials yet.</p> : null}
      {list.length ? (
        <table className="list" aria-label="Credentials">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">Allowed hosts</th>
              <th scope="col">Created</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.map((c) => (
              <tr key={c.id}>
                <th scope="row">{c.name}</th>
                <td>{c.kind}</td>
                <td>{c.allowedHosts?.length ? c.allowedHosts.join(", ") : <span className="hint">any host</span>}</td>
                <td>{new Date(c.createdAt).toLocaleString()}</td>
                <td>
                  <button
                    type="button"
                    className="danger"
                    aria-label={`Delete credential ${c.name}`}
                    onClick={() => {
                      setDeleteError(null);
                      setDeleting({ id: c.id, name: c.name });
                    }}
                  >
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {deleting ? (
        <ConfirmDialog
          title={`Delete credential ${deleting.name}?`}
          message={<p>Steps that use it fail with CredentialNotFound from now on. This cannot be undone.</p>}
          confirmLabel="Delete credential"
          busy={busy}
          error={deleteError}
          onConfirm={() => void confirmDelete()}
          onCancel={() => setDeleting(null)}
        />
      ) : null}
    </main>
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

  const submit = async (e: FormEvent) => {
    e.preventDefault();
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

  const err = (field: string) => errors.byField[field];
  const fid = (field: string) => `${id}-${field}`;
  return (
    <form className="card" onSubmit={submit} aria-labelledby={`${id}-title`} autoComplete="off">
      <h2 id={`${id}-title`}>New credential</h2>
      <div className="field">
        <label htmlFor={fid("name")}>Name</label>
        <input
          id={fid("name")}
          required
          value={name}
          onChange={(e) => setName(e.target.value)}
          placeholder="github-token"
          {...invalidProps(`${fid("name")}-errors`, err("name"))}
        />
        <FieldMessages id={`${fid("name")}-errors`} messages={err("name")} />
      </div>
      <div className="field">
        <label htmlFor={fid("kind")}>Kind</label>
        <select
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
        </select>
        <FieldMessages id={`${fid("kind")}-errors`} messages={err("kind")} />
      </div>
      <fieldset className="value-fields">
        <legend>Value (write-only)</legend>
        {CREDENTIAL_KINDS[kind].fields.map((f) => {
          const key = `value.${f.key}`;
          const inputId = fid(`value-${f.key}`);
          return (
            <div className="field" key={`${kind}-${f.key}`}>
              <label htmlFor={inputId}>
                {f.label}
                {f.required ? "" : " (optional)"}
              </label>
              <input
                id={inputId}
                type={f.secret ? "password" : "text"}
                autoComplete={f.secret ? "new-password" : "off"}
                spellCheck={false}
                required={f.required}
                placeholder={f.placeholder}
                value={values[f.key] ?? ""}
                onChange={(e) => setValues((v) => ({ ...v, [f.key]: e.target.value }))}
                {...invalidProps(`${inputId}-errors`, err(key))}
              />
              <FieldMessages id={`${inputId}-errors`} messages={err(key)} />
            </div>
          );
        })}
        <FieldMessages id={`${fid("value")}-errors`} messages={err("value")} />
      </fieldset>
      <div className="field">
        <label htmlFor={fid("hosts")}>Allowed hosts (optional)</label>
        <input
          id={fid("hosts")}
          value={hosts}
          onChange={(e) => setHosts(e.target.value)}
          placeholder="api.example.org, *.example.org"
          {...invalidProps(`${fid("hosts")}-errors`, err("allowedHosts"), `${fid("hosts")}-hint`)}
        />
        <p id={`${fid("hosts")}-hint`} className="field-description">
          Separate hosts with commas. Empty: any host outbound HTTP may reach
          {kind === "openai" ? " (an OpenAI credential always goes to its base URL's host)" : ""}.
        </p>
        <FieldMessages id={`${fid("hosts")}-errors`} messages={err("allowedHosts")} />
      </div>
      <GeneralErrors messages={errors.general} />
      <button type="submit" className="primary" disabled={fetching}>
        Save credential
      </button>
    </form>
  );
}
