import { lazy, Suspense } from "react";
import { BrowserRouter, Navigate, Outlet, Route, Routes, useLocation } from "react-router";

import { DashboardLayout } from "@/components/layout/dashboard-layout";
import { useSession } from "@/features/auth/api/session";
import { CurrentProjectProvider } from "@/features/auth/components/current-project";
import { SignInPage } from "@/features/auth/routes/sign-in-page";
import { SandboxesPage } from "@/features/sandboxes/routes/sandboxes-page";
import { describeError } from "@/api/problem";

// The Sandboxes list is the first page; the others load when first visited.
const SandboxPage = lazy(() =>
  import("@/features/sandboxes/routes/sandbox-page").then((m) => ({ default: m.SandboxPage })),
);
const TemplatesPage = lazy(() =>
  import("@/features/templates/routes/templates-page").then((m) => ({ default: m.TemplatesPage })),
);
const TemplatePage = lazy(() =>
  import("@/features/templates/routes/template-page").then((m) => ({ default: m.TemplatePage })),
);
const JobsPage = lazy(() => import("@/features/jobs/routes/jobs-page").then((m) => ({ default: m.JobsPage })));
const JobPage = lazy(() => import("@/features/jobs/routes/job-page").then((m) => ({ default: m.JobPage })));
const BatchesPage = lazy(() =>
  import("@/features/batches/routes/batches-page").then((m) => ({ default: m.BatchesPage })),
);
const BatchPage = lazy(() => import("@/features/batches/routes/batch-page").then((m) => ({ default: m.BatchPage })));
const ApiKeysPage = lazy(() =>
  import("@/features/api-keys/routes/api-keys-page").then((m) => ({ default: m.ApiKeysPage })),
);
const WalletPage = lazy(() =>
  import("@/features/wallet/routes/wallet-page").then((m) => ({ default: m.WalletPage })),
);
const KycPage = lazy(() => import("@/features/kyc/routes/kyc-page").then((m) => ({ default: m.KycPage })));
const AdminPage = lazy(() => import("@/features/admin/routes/admin-page").then((m) => ({ default: m.AdminPage })));

function Loading() {
  return (
    <p className="loading" role="status">
      Loading…
    </p>
  );
}

/** The signed-in part: sign-in first when nobody is. */
function RequireSession() {
  const session = useSession();
  const location = useLocation();
  if (session.isPending) return <Loading />;
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
            <Route path="/sandboxes/:id" element={<Suspense fallback={<Loading />}><SandboxPage /></Suspense>} />
            <Route path="/templates" element={<Suspense fallback={<Loading />}><TemplatesPage /></Suspense>} />
            <Route path="/templates/:name" element={<Suspense fallback={<Loading />}><TemplatePage /></Suspense>} />
            <Route path="/jobs" element={<Suspense fallback={<Loading />}><JobsPage /></Suspense>} />
            <Route path="/jobs/:id" element={<Suspense fallback={<Loading />}><JobPage /></Suspense>} />
            <Route path="/batches" element={<Suspense fallback={<Loading />}><BatchesPage /></Suspense>} />
            <Route path="/batches/:id" element={<Suspense fallback={<Loading />}><BatchPage /></Suspense>} />
            <Route path="/wallet" element={<Suspense fallback={<Loading />}><WalletPage /></Suspense>} />
            <Route path="/api-keys" element={<Suspense fallback={<Loading />}><ApiKeysPage /></Suspense>} />
            <Route path="/kyc" element={<Suspense fallback={<Loading />}><KycPage /></Suspense>} />
            {/* Not /admin: the API owns that prefix, and a reload there would get its 404. */}
            <Route path="/operator" element={<Suspense fallback={<Loading />}><AdminPage /></Suspense>} />
          </Route>
        </Route>
        <Route path="*" element={<Navigate to="/sandboxes" replace />} />
      </Routes>
    </BrowserRouter>
  );
}
