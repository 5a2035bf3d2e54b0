import { useEffect, useRef, useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { EXCHANGE_SIGN_IN_CODE, LOGIN, SINGLE_SIGN_ON } from "../api/operations";
import { useSession } from "../auth";
import { Field } from "../components/FieldMessages";
import { Alert } from "../components/ui/alert";
import { Button } from "../components/ui/button";
import { Card, CardTitle } from "../components/ui/card";
import { Input } from "../components/ui/input";
import { Label } from "../components/ui/label";
import { useFormCheck } from "../lib/useFormCheck";
import { FieldMessages, invalidProps } from "../components/FieldMessages";

export function LoginPage() {
  const { login } = useSession();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [workspace, setWorkspace] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [{ fetching }, run] = useMutation(LOGIN);
  const form = useFormCheck();
  // SSO is offered once the workspace field is left with a workspace that has it (asked on blur, not per key).
  const [ssoWorkspace, setSsoWorkspace] = useState("");
  const [sso] = useQuery({ query: SINGLE_SIGN_ON, variables: { tenant: ssoWorkspace }, pause: !ssoWorkspace });
  const ssoUrl = ssoWorkspace ? sso.data?.singleSignOn?.loginUrl : undefined;
  useSsoReturn(login, setError);

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    setError(null);
    if (!form.check(e)) return;
    const res = await run({ email, password, tenant: workspace.trim() || null });
    const payload = res.data?.login;
    if (payload?.token) login(payload.token);
    // A refusal after repeated failures is a RATE_LIMITED error that says when to try again.
    else setError(payload?.errors[0]?.message ?? res.error?.graphQLErrors[0]?.message ?? res.error?.message ?? "Login failed.");
  };

  return (
    <main className="grid min-h-screen place-items-center bg-background p-4">
      <Card asChild className="w-full max-w-sm gap-4 p-6 shadow-md">
        <form noValidate onSubmit={(e) => void submit(e)} aria-labelledby="login-title">
          <div className="grid gap-1">
            <CardTitle asChild>
              <h1 id="login-title" className="text-lg">
                Workflow Agent Studio
              </h1>
            </CardTitle>
            <p className="text-sm text-muted-foreground">Sign in to build, run and approve workflows.</p>
          </div>
          <Field>
            <Label htmlFor="email">Email</Label>
            <Input
              id="email"
              type="email"
              autoComplete="username"
              required
              data-missing="Enter the email you sign in with."
              value={email}
              onChange={(e) => {
                setEmail(e.target.value);
                form.clear("email");
              }}
              {...invalidProps("email-errors", form.of("email"))}
            />
            <FieldMessages id="email-errors" messages={form.of("email")} />
          </Field>
          <Field>
            <Label htmlFor="password">Password</Label>
            <Input
              id="password"
              type="password"
              autoComplete="current-password"
              required
              data-missing="Enter your password."
              value={password}
              onChange={(e) => {
                setPassword(e.target.value);
                form.clear("password");
              }}
              {...invalidProps("password-errors", form.of("password"))}
            />
            <FieldMessages id="password-errors" messages={form.of("password")} />
          </Field>
          <Field>
            <Label htmlFor="workspace">Workspace (if you have accounts in several)</Label>
            <Input
              id="workspace"
              autoComplete="organization"
              placeholder="e.g. acme"
              value={workspace}
              onChange={(e) => setWorkspace(e.target.value)}
              onBlur={() => setSsoWorkspace(workspace.trim().toLowerCase())}
            />
          </Field>
          {error ? <Alert variant="destructive">{error}</Alert> : null}
          <Button type="submit" variant="default" size="default" disabled={fetching}>
            {fetching ? "Signing in…" : "Sign in"}
          </Button>
          {ssoUrl ? (
            <Button asChild variant="outline" size="default">
              <a href={ssoUrl}>Sign in with SSO</a>
            </Button>
          ) : null}
        </form>
      </Card>
    </main>
  );
}

/** Back from the identity provider: `/login#sso_code=…` holds a one-time code, exchanged (POST) for the token. The
 * fragment is cleared first, so the code neither stays in the address bar nor is tried twice. */
function useSsoReturn(login: (token: string) => void, setError: (message: string) => void) {
  const [, exchange] = useMutation(EXCHANGE_SIGN_IN_CODE);
  const started = useRef(false);
  useEffect(() => {
    const code = new URLSearchParams(window.location.hash.slice(1)).get("sso_code");
    if (!code || started.current) return;
    started.current = true;
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
    void exchange({ code }).then((res) => {
      const payload = res.data?.exchangeSignInCode;
      if (payload?.token) login(payload.token);
      else setError(payload?.errors[0]?.message ?? res.error?.message ?? "Single sign-on failed: sign in again.");
    });
  }, [exchange, login, setError]);
}
