// What a container job kept from /outputs, each to download. A person in one project gets a
// plain same-origin link (the cookie is enough); in several, the API needs `X-Sbx-Project`,
// which only a fetch can send, so the click fetches the file and saves it.
import { useState, type MouseEvent } from "react";

import { describeError } from "@/api/problem";
import { useCurrentProject } from "@/features/auth/components/current-project";
import { formatBytes } from "@/lib/format";

import { downloadArtifact } from "../api/jobs";
import { artifactFileName, artifactUrl, type Artifact } from "../lib/jobs";

export function JobArtifacts({
  jobId,
  artifacts,
  omitted,
}: {
  jobId: string;
  artifacts: Artifact[];
  omitted: number;
}) {
  const { session } = useCurrentProject();
  const [error, setError] = useState<string | null>(null);
  const viaFetch = session.projects.length > 1;

  const onClick = (e: MouseEvent<HTMLAnchorElement>, path: string) => {
    if (!viaFetch) return;
    e.preventDefault();
    setError(null);
    downloadArtifact(jobId, path).catch((err: unknown) => setError(describeError(err)));
  };

  if (artifacts.length === 0) return <p className="muted">The job kept no files under /outputs.</p>;
  return (
    <>
      {error && (
        <div role="alert" className="alert">
          {error}
        </div>
      )}
      <ul className="artifacts">
        {artifacts.map((a) => (
          <li key={a.path}>
            <a
              href={artifactUrl(jobId, a.path)}
              download={artifactFileName(a.path)}
              onClick={(e) => onClick(e, a.path)}
            >
              {a.path}
            </a>{" "}
            <span className="muted">({formatBytes(a.size)})</span>
          </li>
        ))}
      </ul>
      {omitted > 0 && <p className="muted">{omitted} more files were over the artifacts cap and were not kept.</p>}
    </>
  );
}
