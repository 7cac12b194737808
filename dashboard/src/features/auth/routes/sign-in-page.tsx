import { useId, useState, type FormEvent } from "react";
import { Navigate, useLocation, useNavigate } from "react-router";

import { ApiError, describeError } from "@/api/problem";
import { useSession, useSignIn } from "../api/session";

function message(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.code === "invalid_login") return "The email or password is wrong.";
    if (e.status === 429) {
      const wait = e.retryAfterS ? ` Try again in ${e.retryAfterS} seconds.` : "";
      return `${describeError(e)}${wait}`;
    }
  }
  return describeError(e);
}

export function SignInPage() {
  const session = useSession();
  const signIn = useSignIn();
  const navigate = useNavigate();
  const location = useLocation();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const errorId = useId();
  const from = (location.state as { from?: string } | null)?.from ?? "/sandboxes";

  if (session.data) return <Navigate to={from} replace />;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    signIn.mutate({ email, password }, { onSuccess: () => navigate(from, { replace: true }) });
  };

  return (
    <main className="sign-in">
      <form className="card sign-in-card" onSubmit={submit} aria-describedby={signIn.isError ? errorId : undefined}>
        <h1>Sign in to sbx</h1>
        {signIn.isError && (
          <div id={errorId} role="alert" className="alert">
            {message(signIn.error)}
          </div>
        )}
        <label className="field">
          <span>Email</span>
          <input
            type="email"
            name="email"
            autoComplete="username"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </label>
        <label className="field">
          <span>Password</span>
          <input
            type="password"
            name="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        <button type="submit" className="button primary" disabled={signIn.isPending}>
          {signIn.isPending ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
