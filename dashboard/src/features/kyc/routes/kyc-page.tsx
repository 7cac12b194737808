// Identity verification (KYC): the form while the person is unverified or was rejected, a
// waiting message while an operator or the provider decides, a confirmation once verified.
import { Link } from "react-router";

import { useCurrentProject } from "@/features/auth/components/current-project";

import { useRefreshSessionWhile } from "../api/kyc";
import { KycForm } from "../components/kyc-form";

function Status({ status }: { status: string }) {
  return (
    <p>
      Your status: <strong className={`badge kyc-${status}`} data-testid="kyc-status">{status}</strong>
    </p>
  );
}

export function KycPage() {
  const { session } = useCurrentProject();
  const status = session.user.kyc_status;
  // A decision is made elsewhere (an operator, the provider): the page shows it when it comes.
  useRefreshSessionWhile(status === "pending");

  return (
    <section className="page" aria-labelledby="kyc-heading">
      <div className="page-header">
        <h1 id="kyc-heading">Identity verification</h1>
      </div>
      <div className="panel narrow">
        <Status status={status} />
        {status === "verified" ? (
          <p role="status">
            Your identity is verified. GPU sandboxes and everything else that needs verification are open to your
            projects. <Link to="/sandboxes">Back to Sandboxes</Link>
          </p>
        ) : status === "pending" ? (
          <p role="status">
            Thank you: your documents were received and are waiting for review. This usually takes less than a
            working day; this page shows the outcome when you come back to it.
          </p>
        ) : (
          <>
            {status === "rejected" ? (
              <p className="notice" role="note">
                Your last identity check was not accepted. Check that the name and date of birth match the document
                and that the whole document is readable, then submit again.
              </p>
            ) : (
              <p className="muted">
                GPU sandboxes need the project owner's identity verified (KYC). Fill in the form; an operator
                reviews it.
              </p>
            )}
            <KycForm />
          </>
        )}
      </div>
    </section>
  );
}
