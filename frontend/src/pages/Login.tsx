import { useState, type FormEvent } from "react";
import { useMutation } from "urql";
import { LOGIN } from "../api/operations";
import { useSession } from "../auth";

export function LoginPage() {
  const { login } = useSession();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [{ fetching }, run] = useMutation(LOGIN);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    const res = await run({ email, password });
    const payload = res.data?.login;
    if (payload?.token) login(payload.token);
    else setError(payload?.errors[0]?.message ?? res.error?.message ?? "Login failed.");
  };

  return (
    <main className="login">
      <form onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Workflow Agent Studio</h1>
        <div className="field">
          <label htmlFor="email">Email</label>
          <input id="email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="password">Password</label>
          <input
            id="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </div>
        {error ? (
          <p className="error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" className="primary" disabled={fetching}>
          {fetching ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
