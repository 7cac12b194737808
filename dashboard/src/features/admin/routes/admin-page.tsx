// Admin, for operators: identity checks by status, each with its document to download and,
// while pending, Verify and Reject (with a reason).
import { useState } from "react";

import { describeError } from "@/api/problem";
import { Time } from "@/components/time";
import { useCurrentProject } from "@/features/auth/components/current-project";
import { describeCountry } from "@/lib/countries";

import {
  downloadDocument,
  SUBMISSION_STATUSES,
  useDecide,
  useSubmissions,
  type Submission,
  type SubmissionStatus,
} from "../api/submissions";
import { RejectDialog } from "../components/reject-dialog";

function SubmissionRow({
  s,
  own,
  busy,
  onVerify,
  onReject,
  onError,
}: {
  s: Submission;
  /** The operator's own check: another operator decides it (the API refuses). */
  own: boolean;
  busy: boolean;
  onVerify: () => void;
  onReject: () => void;
  onError: (message: string) => void;
}) {
  return (
    <tr data-submission-id={s.id} data-status={s.status}>
      <td>{s.email}</td>
      <td>{s.legal_name}</td>
      <td>{describeCountry(s.country)}</td>
      <td>{s.date_of_birth}</td>
      <td>
        <Time at={s.created_at} />
      </td>
      <td>
        <div className="state-cell">
          <span className={`badge kyc-${s.status}`}>{s.status}</span>
          {s.decision_note && <span className="reason">{s.decision_note}</span>}
        </div>
      </td>
      <td>
        <button
          type="button"
          className="button small"
          aria-label={`Document of ${s.email}: ${s.document_name}`}
          onClick={() => downloadDocument(s).catch((e: unknown) => onError(describeError(e)))}
        >
          Document
        </button>
      </td>
      <td>
        {s.status === "pending" && own && <span className="muted">Yours: another operator decides it</span>}
        {s.status === "pending" && !own && (
          <div className="row-actions">
            <button type="button" className="button small" onClick={onVerify} disabled={busy}>
              Verify
            </button>
            <button type="button" className="button small danger-outline" onClick={onReject} disabled={busy}>
              Reject
            </button>
          </div>
        )}
      </td>
    </tr>
  );
}

export function AdminPage() {
  const { session } = useCurrentProject();
  const [status, setStatus] = useState<SubmissionStatus>("pending");
  const [rejecting, setRejecting] = useState<Submission | null>(null);
  const [downloadError, setDownloadError] = useState<string | null>(null);
  const submissions = useSubmissions(status);
  const decide = useDecide();
  const rows = submissions.data ?? [];

  return (
    <section className="page" aria-labelledby="admin-heading">
      <div className="page-header">
        <h1 id="admin-heading">Admin</h1>
      </div>
      <h2 id="kyc-checks-heading">Identity checks</h2>
      <div className="toolbar">
        <label className="field inline">
          <span>Status</span>
          <select value={status} onChange={(e) => setStatus(e.target.value as SubmissionStatus)}>
            {SUBMISSION_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
      </div>
      {[submissions.isError && submissions.error, decide.isError && decide.error].map(
        (e, i) =>
          e && (
            <div key={i} role="alert" className="alert">
              {describeError(e)}
            </div>
          ),
      )}
      {downloadError && (
        <div role="alert" className="alert">
          {downloadError}
        </div>
      )}
      {submissions.isPending ? (
        <p role="status">Loading identity checks…</p>
      ) : rows.length > 0 ? (
        <div className="table-wrap">
          <table className="table" aria-labelledby="kyc-checks-heading">
            <thead>
              <tr>
                <th scope="col">Email</th>
                <th scope="col">Legal name</th>
                <th scope="col">Country</th>
                <th scope="col">Date of birth</th>
                <th scope="col">Submitted</th>
                <th scope="col">Status</th>
                <th scope="col">Document</th>
                <th scope="col">Decision</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((s) => (
                <SubmissionRow
                  key={s.id}
                  s={s}
                  own={s.email.toLowerCase() === session.user.email.toLowerCase()}
                  busy={decide.isPending}
                  onVerify={() => decide.mutate({ id: s.id, decision: "verify" })}
                  onReject={() => setRejecting(s)}
                  onError={setDownloadError}
                />
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        !submissions.isError && (
          <div className="empty">
            <h3>{status === "all" ? "No identity checks yet" : `No ${status} identity checks`}</h3>
          </div>
        )
      )}
      <RejectDialog
        submission={rejecting}
        onClose={() => setRejecting(null)}
        onConfirm={(id, reason) => {
          setRejecting(null);
          decide.mutate({ id, decision: "reject", reason });
        }}
      />
    </section>
  );
}
