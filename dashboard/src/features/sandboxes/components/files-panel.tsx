// The sandbox's files: a folder at a time under /workspace (and /outputs for a container), its
// breadcrumb, its entries (a folder opens, a file downloads), uploads into it (one file after
// another, with their progress), New folder, Delete (after a confirmation; a folder with
// everything in it) and Refresh. Shown while the sandbox runs.
import { useEffect, useId, useRef, useState, type ChangeEvent, type MouseEvent } from "react";

import { ApiError, describeError } from "@/api/problem";
import { Time } from "@/components/time";
import { useCurrentProject } from "@/features/auth/components/current-project";
import { formatBytes } from "@/lib/format";

import { downloadFile, uploadFile, useDeleteEntry, useFileList, useInvalidateFiles } from "../api/files";
import type { Sandbox } from "../api/sandboxes";
import {
  baseName,
  crumbsOf,
  fileUrl,
  joinPath,
  percentOf,
  sortEntries,
  treeOf,
  treesOf,
  TYPE_LABELS,
  type FileInfo,
} from "../lib/files";
import { DeleteEntryDialog } from "./delete-entry-dialog";
import { NewFolderDialog } from "./new-folder-dialog";

interface Progress {
  name: string;
  /** Which file of how many this run of uploads has had so far. */
  index: number;
  count: number;
  sent: number;
  total: number;
}

interface Queued {
  file: File;
  dir: string;
}

/** Uploads, one file after another; files chosen during an upload wait their turn. */
function useUploads(sandboxId: string, announce: (text: string) => void) {
  const invalidate = useInvalidateFiles(sandboxId);
  const queue = useRef<Queued[]>([]);
  const abort = useRef<(() => void) | null>(null);
  const running = useRef(false);
  const stopped = useRef(false);
  const [progress, setProgress] = useState<Progress | null>(null);
  const [failures, setFailures] = useState<string[]>([]);

  const drain = async () => {
    running.current = true;
    stopped.current = false;
    let index = 0;
    let uploaded = 0;
    const failed: string[] = [];
    const dirs = new Set<string>();
    while (queue.current.length > 0 && !stopped.current) {
      const { file, dir } = queue.current.shift()!;
      index += 1;
      const count = index + queue.current.length;
      setProgress({ name: file.name, index, count, sent: 0, total: file.size });
      announce(`Uploading ${file.name}${count > 1 ? ` (${index} of ${count})` : ""}…`);
      const upload = uploadFile(sandboxId, joinPath(dir, file.name), file, (sent, total) =>
        setProgress({ name: file.name, index, count: index + queue.current.length, sent, total }),
      );
      abort.current = upload.abort;
      try {
        await upload.done;
        uploaded += 1;
        dirs.add(dir);
      } catch (e) {
        if (e instanceof DOMException && e.name === "AbortError") break;
        failed.push(`${file.name}: ${describeError(e)}`);
        // The sandbox cannot take any more: the rest would fail alike.
        if (e instanceof ApiError && ["disk_full", "sandbox_paused", "sandbox_ended"].includes(e.code)) break;
      } finally {
        abort.current = null;
      }
    }
    const left = queue.current.length;
    queue.current = [];
    running.current = false;
    setProgress(null);
    setFailures(failed);
    void invalidate();
    const files = (n: number) => `${n} file${n === 1 ? "" : "s"}`;
    const where = dirs.size === 1 ? ` to ${[...dirs][0]}` : "";
    const parts = [uploaded > 0 ? `Uploaded ${files(uploaded)}${where}.` : "Nothing was uploaded."];
    if (failed.length > 0) parts.push(`${files(failed.length)} failed.`);
    if (stopped.current) parts.push("The upload was stopped.");
    else if (left > 0) parts.push(`${files(left)} not tried.`);
    announce(parts.join(" "));
  };

  const add = (files: File[], dir: string) => {
    if (files.length === 0) return;
    if (!running.current) setFailures([]);
    queue.current.push(...files.map((file) => ({ file, dir })));
    if (!running.current) void drain();
  };

  const stop = () => {
    stopped.current = true;
    queue.current = [];
    abort.current?.();
  };

  // Leaving the page stops what is under way.
  useEffect(() => () => stop(), []);

  return { progress, failures, add, stop, clearFailures: () => setFailures([]) };
}

function UploadProgress({ progress, onStop }: { progress: Progress; onStop: () => void }) {
  const id = useId();
  const pct = percentOf(progress.sent, progress.total);
  return (
    <div className="upload-progress">
      <label htmlFor={id}>
        Uploading <span className="file-name">{progress.name}</span>
        {progress.count > 1 && ` (${progress.index} of ${progress.count})`}
      </label>
      <progress id={id} max={100} value={pct ?? undefined}>
        {pct ?? 0} %
      </progress>
      <span className="muted">
        {formatBytes(progress.sent)} of {formatBytes(progress.total)}
        {pct !== null && ` (${pct} %)`}
      </span>
      <button type="button" className="button small" onClick={onStop}>
        Stop upload
      </button>
    </div>
  );
}

function EntryName({
  sandboxId,
  entry,
  viaFetch,
  onOpen,
  onError,
}: {
  sandboxId: string;
  entry: FileInfo;
  viaFetch: boolean;
  onOpen: (path: string) => void;
  onError: (message: string) => void;
}) {
  const name = baseName(entry.path);
  if (entry.type === "directory") {
    return (
      <button type="button" className="link-button" onClick={() => onOpen(entry.path)}>
        {name}
      </button>
    );
  }
  if (entry.type !== "file") return <span className="file-name">{name}</span>;
  // One project: a plain link (the cookie is enough; the browser streams it to disk). Several:
  // the API needs `X-Sbx-Project`, which only a fetch sends, so the file is fetched and saved.
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    if (!viaFetch) return;
    e.preventDefault();
    downloadFile(sandboxId, entry.path, name).catch((err: unknown) => onError(describeError(err)));
  };
  return (
    <a href={fileUrl(sandboxId, entry.path)} download={name} onClick={onClick}>
      {name}
    </a>
  );
}

export function FilesPanel({ sandbox }: { sandbox: Sandbox }) {
  const trees = treesOf(sandbox.kind);
  const [dir, setDir] = useState(trees[0]!);
  const [announcement, setAnnouncement] = useState("");
  const [actionError, setActionError] = useState<string | null>(null);
  const [toDelete, setToDelete] = useState<FileInfo | null>(null);
  const [newFolder, setNewFolder] = useState(false);
  const { session } = useCurrentProject();
  const viaFetch = session.projects.length > 1;

  const list = useFileList(sandbox.id, dir, true);
  const remove = useDeleteEntry(sandbox.id);
  const uploads = useUploads(sandbox.id, setAnnouncement);
  const fetchingId = useId();
  const current = useRef<HTMLSpanElement>(null);
  const moved = useRef(false);

  // After a move (a folder opened, a crumb or a tree chosen) the focus goes to where it is now.
  useEffect(() => {
    if (moved.current) current.current?.focus();
    moved.current = false;
  }, [dir]);

  const go = (path: string) => {
    if (path === dir) return;
    moved.current = true;
    setActionError(null);
    setDir(path);
  };

  const onChoose = (e: ChangeEvent<HTMLInputElement>) => {
    const files = Array.from(e.target.files ?? []);
    // The same file can be chosen again.
    e.target.value = "";
    setActionError(null);
    uploads.add(files, dir);
  };

  const refresh = () => {
    setActionError(null);
    void list.refetch().then((r) => {
      if (!r.isError) setAnnouncement(`Read ${dir} again.`);
    });
  };

  const confirmDelete = (entry: FileInfo) => {
    setActionError(null);
    remove.mutate(entry, {
      onSuccess: () => setAnnouncement(`Deleted ${baseName(entry.path)}.`),
      onError: (err) => setActionError(describeError(err)),
    });
  };

  const entries = list.data ? sortEntries(list.data.data) : [];
  const crumbs = crumbsOf(dir);
  const last = crumbs.length - 1;
  // A tree that has nothing in it yet (a container's /outputs before anything is written).
  const missingRoot =
    list.isError && list.error instanceof ApiError && list.error.status === 404 && trees.includes(dir);

  return (
    <div className="files">
      {trees.length > 1 && (
        <fieldset className="segmented">
          <legend>Folder tree</legend>
          {trees.map((t) => (
            <label key={t} className={treeOf(dir) === t ? "checked" : undefined}>
              <input type="radio" name="files-tree" value={t} checked={treeOf(dir) === t} onChange={() => go(t)} />
              <code>{t}</code>
            </label>
          ))}
        </fieldset>
      )}
      <nav aria-label="Folder" className="files-path">
        <ol>
          {crumbs.map((c, i) => (
            <li key={c.path}>
              {i < last ? (
                <>
                  <button type="button" className="link-button" onClick={() => go(c.path)}>
                    {c.name}
                  </button>
                  <span aria-hidden="true" className="separator">
                    /
                  </span>
                </>
              ) : (
                <span ref={current} tabIndex={-1} aria-current="location" className="current">
                  {c.name}
                </span>
              )}
            </li>
          ))}
        </ol>
      </nav>
      <div className="files-toolbar" role="group" aria-label="Folder actions">
        <label className="button file-picker">
          Upload files
          <input type="file" multiple className="visually-hidden" onChange={onChoose} />
        </label>
        <button type="button" className="button" onClick={() => setNewFolder(true)}>
          New folder
        </button>
        <button type="button" className="button" onClick={refresh} aria-describedby={fetchingId}>
          Refresh
        </button>
        <span id={fetchingId} className="muted">
          {list.isFetching && !list.isPending ? "Reading…" : ""}
        </span>
      </div>
      <p className="hint files-hint">
        Choose a folder to open it, a file to download it. An upload replaces a file of the same name.
      </p>
      <div role="status" className="visually-hidden">
        {announcement}
      </div>
      {uploads.progress && <UploadProgress progress={uploads.progress} onStop={uploads.stop} />}
      {uploads.failures.length > 0 && (
        <div role="alert" className="alert">
          {uploads.failures.length === 1 ? (
            <>Could not upload {uploads.failures[0]}</>
          ) : (
            <>
              Could not upload:
              <ul>
                {uploads.failures.map((f) => (
                  <li key={f}>{f}</li>
                ))}
              </ul>
            </>
          )}
        </div>
      )}
      {actionError && (
        <div role="alert" className="alert">
          {actionError}
        </div>
      )}
      {list.isPending && !list.isError && <p role="status">Loading {dir}…</p>}
      {missingRoot && <p className="files-empty muted">Nothing in {dir} yet.</p>}
      {list.isError && !missingRoot && (
        <div role="alert" className="alert">
          {describeError(list.error)}
        </div>
      )}
      {list.data && entries.length === 0 && (
        <p className="files-empty muted">This folder is empty. Upload files into it, or make a folder.</p>
      )}
      {list.data && entries.length > 0 && (
        <div className="table-wrap">
          <table className="table files-table" aria-busy={list.isFetching || undefined}>
            <caption className="visually-hidden">Contents of {dir}, folders first</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Type</th>
                <th scope="col" className="number">
                  Size
                </th>
                <th scope="col">Modified</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {entries.map((entry) => (
                <tr key={entry.path} data-path={entry.path} data-type={entry.type}>
                  <th scope="row">
                    <EntryName
                      sandboxId={sandbox.id}
                      entry={entry}
                      viaFetch={viaFetch}
                      onOpen={go}
                      onError={setActionError}
                    />
                  </th>
                  <td>{TYPE_LABELS[entry.type]}</td>
                  <td className="number">{entry.type === "file" ? formatBytes(entry.size) : "—"}</td>
                  <td>
                    <Time at={entry.mtime} />
                  </td>
                  <td>
                    <button
                      type="button"
                      className="button small danger-outline"
                      aria-label={`Delete ${baseName(entry.path)}`}
                      onClick={() => setToDelete(entry)}
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {list.data?.truncated && (
        <p className="muted">The folder holds more entries than are listed here (at most 10 000).</p>
      )}
      <DeleteEntryDialog entry={toDelete} onClose={() => setToDelete(null)} onConfirm={confirmDelete} />
      <NewFolderDialog
        sandboxId={sandbox.id}
        dir={dir}
        open={newFolder}
        onOpenChange={setNewFolder}
        onMade={(name) => setAnnouncement(`Made the folder ${name} in ${dir}.`)}
      />
    </div>
  );
}
