// Credential kinds and the value each takes (studio_shared/credentials.py KINDS): the form's fields and the
// `CredentialInput` it sends. Values are write-only: secret fields are password inputs and never read back.
import type { CredentialInput } from "../gql/graphql";

export type CredentialKind = "bearer" | "basic" | "header" | "openai" | "smtp" | "postgres";

export interface ValueField {
  key: string;
  label: string;
  /** a password input whose value is never shown again */
  secret: boolean;
  required: boolean;
  placeholder?: string;
  /** "integer": a number input, sent as a number; "select": one of `options` (the first is the default). */
  input?: "text" | "integer" | "select";
  options?: readonly { value: string; label: string }[];
  hint?: string;
}

export const CREDENTIAL_KINDS: Record<CredentialKind, { label: string; fields: ValueField[] }> = {
  bearer: { label: "Bearer token", fields: [{ key: "token", label: "Token", secret: true, required: true }] },
  basic: {
    label: "Basic auth (username and password)",
    fields: [
      { key: "username", label: "Username", secret: false, required: true },
      { key: "password", label: "Password", secret: true, required: true },
    ],
  },
  header: {
    label: "Custom header",
    fields: [
      { key: "name", label: "Header name", secret: false, required: true, placeholder: "X-Api-Key" },
      { key: "value", label: "Header value", secret: true, required: true },
    ],
  },
  openai: {
    label: "OpenAI-compatible API",
    fields: [
      { key: "api_key", label: "API key", secret: true, required: true },
      { key: "base_url", label: "Base URL", secret: false, required: false, placeholder: "https://api.openai.com/v1" },
      { key: "organization", label: "Organization", secret: false, required: false },
    ],
  },
  smtp: {
    label: "SMTP server (email.send)",
    fields: [
      { key: "host", label: "Host", secret: false, required: true, placeholder: "smtp.example.org" },
      { key: "port", label: "Port", secret: false, required: false, input: "integer", placeholder: "587", hint: "587 for STARTTLS, 465 for TLS, 25 plain." },
      {
        key: "security",
        label: "Security",
        secret: false,
        required: true,
        input: "select",
        options: [
          { value: "starttls", label: "STARTTLS (upgrade the connection; fails if the server cannot)" },
          { value: "tls", label: "TLS from the start" },
          { value: "none", label: "None: in clear (trusted networks only)" },
        ],
      },
      { key: "username", label: "Username", secret: false, required: false, hint: "Leave empty, with the password, for a relay without authentication." },
      { key: "password", label: "Password", secret: true, required: false },
      { key: "from", label: "From address", secret: false, required: true, placeholder: "studio@example.org" },
      { key: "from_name", label: "From name", secret: false, required: false, placeholder: "Workflow Studio" },
    ],
  },
  postgres: {
    label: "PostgreSQL database (sql.query)",
    fields: [
      { key: "host", label: "Host", secret: false, required: true, placeholder: "db.example.org" },
      { key: "port", label: "Port", secret: false, required: false, input: "integer", placeholder: "5432" },
      { key: "database", label: "Database", secret: false, required: true },
      { key: "user", label: "User", secret: false, required: true, hint: "Grant this role only what the workflows need." },
      { key: "password", label: "Password", secret: true, required: false },
      {
        key: "sslmode",
        label: "TLS",
        secret: false,
        required: true,
        input: "select",
        options: [
          { value: "require", label: "require (encrypted, certificate not checked)" },
          { value: "verify-full", label: "verify-full (certificate and host name checked)" },
          { value: "disable", label: "disable: in clear (trusted networks only)" },
        ],
      },
    ],
  },
};

export const KIND_NAMES = Object.keys(CREDENTIAL_KINDS) as CredentialKind[];

/** "a.example.org, *.b.org\nc.org" -> ["a.example.org", "*.b.org", "c.org"]; nothing -> null (any host). */
export function parseHosts(text: string): string[] | null {
  const hosts = text.split(/[\s,]+/).filter(Boolean);
  return hosts.length ? hosts : null;
}

/**
 * The input createCredential takes: the kind's fields only (another kind's leftovers never leave the page),
 * secrets exactly as typed, other text trimmed, optional fields left out when empty, numbers as numbers, a choice
 * left alone as its first option.
 */
export function credentialInput(
  name: string,
  kind: CredentialKind,
  values: Readonly<Record<string, string>>,
  hosts: string,
): CredentialInput {
  const value: Record<string, string | number> = {};
  for (const field of CREDENTIAL_KINDS[kind].fields) {
    const raw = values[field.key] ?? (field.input === "select" ? (field.options?.[0]?.value ?? "") : "");
    const given = field.secret ? raw : raw.trim();
    if (!given && !field.required) continue;
    // A whole number goes as a number; anything else as typed, for the server to say what is wrong with it.
    value[field.key] = field.input === "integer" && /^\d+$/.test(given) ? Number(given) : given;
  }
  return { name: name.trim(), kind, value, allowedHosts: parseHosts(hosts) };
}

/** The field keys errors may point at, for fieldErrors(). */
export function credentialErrorFields(kind: CredentialKind): string[] {
  return ["name", "kind", "value", "allowedHosts", ...CREDENTIAL_KINDS[kind].fields.map((f) => `value.${f.key}`)];
}
