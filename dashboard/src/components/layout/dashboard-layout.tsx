// The signed-in frame: a sidebar with the navigation (Admin for operators), a header with the
// project switcher, the person's email, their identity verification and sign-out.
import { Link, NavLink, Outlet, useNavigate } from "react-router";

import { describeError } from "@/api/problem";
import { useSignOut } from "@/features/auth/api/session";
import { useCurrentProject } from "@/features/auth/components/current-project";

export function DashboardLayout() {
  const { session, project, setProjectId } = useCurrentProject();
  const signOut = useSignOut();
  const navigate = useNavigate();

  const out = (everywhere: boolean) =>
    signOut.mutate(everywhere, { onSuccess: () => navigate("/sign-in", { replace: true }) });

  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <aside className="sidebar">
        <div className="brand" aria-hidden="true">
          sbx
        </div>
        <nav aria-label="Main">
          <ul>
            <li>
              <NavLink to="/sandboxes">Sandboxes</NavLink>
            </li>
            <li>
              <NavLink to="/templates">Templates</NavLink>
            </li>
            <li>
              <NavLink to="/jobs">Jobs</NavLink>
            </li>
            <li>
              <NavLink to="/batches">Batches</NavLink>
            </li>
            <li>
              <NavLink to="/wallet">Wallet</NavLink>
            </li>
            <li>
              <NavLink to="/api-keys">API keys</NavLink>
            </li>
            {session.user.operator && (
              <li>
                <NavLink to="/operator">Admin</NavLink>
              </li>
            )}
          </ul>
        </nav>
      </aside>
      <div className="body">
        <header className="topbar">
          {session.projects.length > 1 ? (
            <label className="project-switcher">
              <span>Current project</span>
              <select value={project?.id ?? ""} onChange={(e) => setProjectId(e.target.value)}>
                {session.projects.map((p) => (
                  <option key={p.id} value={p.id}>
                    {p.name}
                  </option>
                ))}
              </select>
            </label>
          ) : (
            <span className="project-name">{project ? `Project: ${project.name}` : "No project"}</span>
          )}
          <div className="account">
            <span className="email">{session.user.email}</span>
            <Link to="/kyc" className="kyc-link">
              Identity verification
            </Link>
            {session.user.kyc_status !== "verified" && (
              <span className={`badge kyc-${session.user.kyc_status}`} data-testid="header-kyc-status">
                {session.user.kyc_status}
              </span>
            )}
            <button type="button" className="button" onClick={() => out(false)} disabled={signOut.isPending}>
              Sign out
            </button>
            <button type="button" className="button" onClick={() => out(true)} disabled={signOut.isPending}>
              Sign out everywhere
            </button>
          </div>
          {signOut.isError && (
            <div role="alert" className="alert">
              {describeError(signOut.error)}
            </div>
          )}
        </header>
        <main id="main" tabIndex={-1}>
          <Outlet />
        </main>
      </div>
    </div>
  );
}
