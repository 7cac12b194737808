import { BrowserRouter, Navigate, Outlet, Route, Routes, useLocation } from "react-router";

import { DashboardLayout } from "@/components/layout/dashboard-layout";
import { useSession } from "@/features/auth/api/session";
import { CurrentProjectProvider } from "@/features/auth/components/current-project";
import { SignInPage } from "@/features/auth/routes/sign-in-page";
import { SandboxesPage } from "@/features/sandboxes/routes/sandboxes-page";
import { describeError } from "@/api/problem";

/** The signed-in part: sign-in first when nobody is. */
function RequireSession() {
  const session = useSession();
  const location = useLocation();
  if (session.isPending) {
    return (
      <p className="loading" role="status">
        Loading…
      </p>
    );
  }
  if (session.isError) {
    return (
      <div role="alert" className="alert page-alert">
        {describeError(session.error)}
      </div>
    );
  }
  if (!session.data) return <Navigate to="/sign-in" replace state={{ from: location.pathname }} />;
  return (
    <CurrentProjectProvider session={session.data}>
      <Outlet />
    </CurrentProjectProvider>
  );
}

export function AppRouter() {
  return (
    <BrowserRouter>
      <Routes>
        <Route path="/sign-in" element={<SignInPage />} />
        <Route element={<RequireSession />}>
          <Route element={<DashboardLayout />}>
            <Route path="/sandboxes" element={<SandboxesPage />} />
          </Route>
        </Route>
        <Route path="*" element={<Navigate to="/sandboxes" replace />} />
      </Routes>
    </BrowserRouter>
  );
}
