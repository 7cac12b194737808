// The notice the wizard shows when a GPU is asked for by someone not yet verified (KYC).
export function KycNotice({ status }: { status: string }) {
  return (
    <div className="notice" role="note" aria-labelledby="kyc-notice-title">
      <strong id="kyc-notice-title">GPU sandboxes need identity verification</strong>
      <p>
        Before a GPU is provisioned, the project owner's identity must be verified (KYC). Your
        verification status is <strong className="kyc-status">{status}</strong>. A GPU sandbox
        asked for before then is refused; sandboxes without a GPU are not affected. The
        verification form is coming to the dashboard; until then an operator can verify you.
      </p>
    </div>
  );
}
