// Credential kinds and the value each takes (studio_shared/credentials.py KINDS): the form's fields and the
// `CredentialInput` it sends. Values are write-only: secret fields are password inputs and never read back.
import type { CredentialInput } from "../gql/graphql";

export type CredentialKind = "bearer" | "basic" | "header" | "openai";

export interface ValueField {
  key: string;
  label: string;
  /** a password input whose value is never shown again */
  secret: boolean;
  required: boolean;
  placeholder?: string;
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
};

export const KIND_NAMES = Object.keys(CREDENTIAL_KINDS) as CredentialKind[];

/** "a.example.org, *.b.org\nc.org" -> ["a.example.org", "*.b.org", "c.org"]; nothing -> null (any host). */
export function parseHosts(text: string): string[] | null {
  const hosts = text.split(/[\s,]+/).filter(Boolean);
  return hosts.length ? hosts : null;
}

/**
 * The input createCredential takes: the kind's fields only (another kind's leftovers never leave the page),
 * secrets exactly as typed, other text trimmed, optional fields left out when empty.
 */
export function credentialInput(
  name: string,
  kind: CredentialKind,
  values: Readonly<Record<string, string>>,
  hosts: string,
): CredentialInput {
  const value: Record<string, string> = {};
  for (const field of CREDENTIAL_KINDS[kind].fields) {
    const raw = values[field.key] ?? "";
    const given = field.secret ? raw : raw.trim();
    if (given || field.required) value[field.key] = given;
  }
  return { name: name.trim(), kind, value, allowedHosts: parseHosts(hosts) };
}

/** The field keys errors may point at, for fieldErrors(). */
export function credentialErrorFields(kind: CredentialKind): string[] {
  return ["name", "kind", "value", "allowedHosts", ...CREDENTIAL_KINDS[kind].fields.map((f) => `value.${f.key}`)];
}
