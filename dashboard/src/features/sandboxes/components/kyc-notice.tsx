// The notice the wizard shows when a GPU is asked for by someone not yet verified (KYC), with
// the way to the identity form.
import { Link } from "react-router";

export function KycNotice({ status }: { status: string }) {
  return (
    <div className="notice" role="note" aria-labelledby="kyc-notice-title">
      <strong id="kyc-notice-title">GPU sandboxes need identity verification</strong>
      <p>
        Before a GPU is provisioned, the project owner's identity must be verified (KYC). Your
        verification status is <strong className="kyc-status">{status}</strong>. A GPU sandbox
        asked for before then is refused; sandboxes without a GPU are not affected.{" "}
        {status === "pending" ? (
          <>
            Your documents are being reviewed: <Link to="/kyc">see where it stands</Link>.
          </>
        ) : (
          <Link to="/kyc">Verify your identity</Link>
        )}
      </p>
    </div>
  );
}
