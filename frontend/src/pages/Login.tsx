import { useState, type FormEvent } from "react";
import { useMutation } from "urql";
import { LOGIN } from "../api/operations";
import { useSession } from "../auth";
import { Field } from "../components/FieldMessages";
import { Alert } from "../components/ui/alert";
import { Button } from "../components/ui/button";
import { Card, CardTitle } from "../components/ui/card";
import { Input } from "../components/ui/input";
import { Label } from "../components/ui/label";

export function LoginPage() {
  const { login } = useSession();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [workspace, setWorkspace] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [{ fetching }, run] = useMutation(LOGIN);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    const res = await run({ email, password, tenant: workspace.trim() || null });
    const payload = res.data?.login;
    if (payload?.token) login(payload.token);
    // A refusal after repeated failures is a RATE_LIMITED error that says when to try again.
    else setError(payload?.errors[0]?.message ?? res.error?.graphQLErrors[0]?.message ?? res.error?.message ?? "Login failed.");
  };

  return (
    <main className="grid min-h-screen place-items-center p-4">
      <Card asChild className="w-80 gap-4 p-6">
        <form onSubmit={submit} aria-labelledby="login-title">
          <CardTitle asChild>
            <h1 id="login-title" className="text-lg">
              Workflow Agent Studio
            </h1>
          </CardTitle>
          <Field>
            <Label htmlFor="email">Email</Label>
            <Input id="email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
          </Field>
          <Field>
            <Label htmlFor="password">Password</Label>
            <Input
              id="password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </Field>
          <Field>
            <Label htmlFor="workspace">Workspace (if you have accounts in several)</Label>
            <Input
              id="workspace"
              autoComplete="organization"
              placeholder="e.g. acme"
              value={workspace}
              onChange={(e) => setWorkspace(e.target.value)}
            />
          </Field>
          {error ? <Alert variant="destructive">{error}</Alert> : null}
          <Button type="submit" variant="default" size="default" disabled={fetching}>
            {fetching ? "Signing in…" : "Sign in"}
          </Button>
        </form>
      </Card>
    </main>
  );
}
