// A batch's items: a table filtered by verdict (over the pages loaded so far), "Load more",
// and each row expandable to its stdout and stderr.
import { Fragment, useId, useState } from "react";
import { Link } from "react-router";

import { describeError } from "@/api/problem";
import { OutputBlock } from "@/components/output-block";
import { shortId } from "@/lib/format";

import type { useBatchResults } from "../api/batches";
import { filterByVerdict, formatMs, itemResult, outputPreview, VERDICTS, type BatchItem } from "../lib/batches";

const COLUMNS = 7;

function ItemRow({ item }: { item: BatchItem }) {
  const [open, setOpen] = useState(false);
  const r = itemResult(item);
  const detailId = useId();
  return (
    <Fragment>
      <tr data-item-id={item.id} data-verdict={item.verdict ?? ""}>
        <td>
          <code>{item.id}</code>
        </td>
        <td>
          <Link to={`/jobs/${item.job_id}`} aria-label={`${item.status}: job ${shortId(item.job_id)}`}>
            {item.status}
          </Link>
        </td>
        <td>{item.verdict ? <span className={`badge verdict-${item.verdict}`}>{item.verdict}</span> : "—"}</td>
        <td className="number">{r?.exit_code ?? "—"}</td>
        <td className="number">{formatMs(r?.duration_ms)}</td>
        <td className="image">
          <code>{outputPreview(r?.stdout)}</code>
        </td>
        <td>
          {r && (
            <button
              type="button"
              className="button small"
              aria-expanded={open}
              aria-controls={detailId}
              aria-label={`${open ? "Hide" : "Show"} output of ${item.id}`}
              onClick={() => setOpen((o) => !o)}
            >
              {open ? "Hide" : "Show"}
            </button>
          )}
        </td>
      </tr>
      {r && (
        <tr id={detailId} hidden={!open} className="item-output">
          <td colSpan={COLUMNS}>
            {open && (
              <>
                {r.message && <p className="reason">{r.message}</p>}
                <OutputBlock label={`stdout of ${item.id}`} text={r.stdout ?? ""} />
                <OutputBlock label={`stderr of ${item.id}`} text={r.stderr ?? ""} tone="error" />
              </>
            )}
          </td>
        </tr>
      )}
    </Fragment>
  );
}

export function BatchResults({ results }: { results: ReturnType<typeof useBatchResults> }) {
  const [verdict, setVerdict] = useState("");
  const loaded = results.data?.pages.flatMap((p) => p.data) ?? [];
  const rows = filterByVerdict(loaded, verdict);

  return (
    <>
      <div className="toolbar">
        <label className="field inline">
          <span>Verdict</span>
          <select value={verdict} onChange={(e) => setVerdict(e.target.value)}>
            <option value="">All verdicts</option>
            {VERDICTS.map((v) => (
              <option key={v} value={v}>
                {v}
              </option>
            ))}
          </select>
        </label>
        <span className="muted" role="status">
          {results.isPending ? "" : `${rows.length} of ${loaded.length} loaded items`}
        </span>
      </div>
      {results.isError && (
        <div role="alert" className="alert">
          {describeError(results.error)}
        </div>
      )}
      {results.isPending ? (
        <p role="status">Loading results…</p>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">The batch's items, in submission order</caption>
            <thead>
              <tr>
                <th scope="col">Item</th>
                <th scope="col">Status</th>
                <th scope="col">Verdict</th>
                <th scope="col">Exit code</th>
                <th scope="col">Duration</th>
                <th scope="col">Stdout</th>
                <th scope="col">Output</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((item) => (
                <ItemRow key={item.id} item={item} />
              ))}
              {rows.length === 0 && (
                <tr>
                  <td colSpan={COLUMNS} className="muted">
                    {verdict ? `No loaded item has the verdict ${verdict}.` : "No items."}
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
      {results.hasNextPage && (
        <p>
          <button
            type="button"
            className="button"
            onClick={() => results.fetchNextPage()}
            disabled={results.isFetchingNextPage}
          >
            {results.isFetchingNextPage ? "Loading…" : "Load more"}
          </button>
        </p>
      )}
    </>
  );
}
