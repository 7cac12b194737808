// The usage report as tables: by resource (what was used, in its units, and its cost), by
// sandbox (execs and container jobs as their own rows), and by day (the chart's data).
import { Link } from "react-router";

import { formatDuration, shortId } from "@/lib/format";
import { formatUsd } from "@/lib/money";

import {
  byCost,
  describeAmount,
  RESOURCE_LABELS,
  RESOURCES,
  resourceLabel,
  shortDay,
  type DayPoint,
  type UsageReport,
} from "../lib/usage";

function TotalRow({ label, span, total }: { label: string; span: number; total: number }) {
  return (
    <tfoot>
      <tr>
        <th scope="row" colSpan={span}>
          {label}
        </th>
        <td className="number" data-testid="usage-total">
          {formatUsd(total)}
        </td>
      </tr>
    </tfoot>
  );
}

export function ResourceTable({ report }: { report: UsageReport }) {
  const rows = byCost(report.rows);
  return (
    <div className="table-wrap">
      <table className="table">
        <caption className="visually-hidden">Cost by resource, the largest first</caption>
        <thead>
          <tr>
            <th scope="col">Resource</th>
            <th scope="col">Used</th>
            <th scope="col" className="number">
              Cost
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.key} data-key={r.key}>
              <th scope="row">{resourceLabel(r.key)}</th>
              <td>{describeAmount(r)}</td>
              <td className="number">{formatUsd(r.cost)}</td>
            </tr>
          ))}
        </tbody>
        <TotalRow label="Total" span={2} total={report.total_cost} />
      </table>
    </div>
  );
}

/** A sandbox row's name: its short id as a link, or what the group stands for. */
function SandboxKey({ id }: { id: string }) {
  if (id === "execs") return <>Execs (code run without a sandbox)</>;
  if (id === "jobs") return <>Container jobs</>;
  return (
    <Link to={`/sandboxes/${id}`}>
      <code title={id}>{shortId(id)}</code>
    </Link>
  );
}

export function SandboxTable({ report }: { report: UsageReport }) {
  const rows = byCost(report.rows);
  return (
    <div className="table-wrap">
      <table className="table">
        <caption className="visually-hidden">Cost by sandbox, the largest first</caption>
        <thead>
          <tr>
            <th scope="col">Sandbox</th>
            <th scope="col">Running</th>
            <th scope="col">Paused</th>
            <th scope="col" className="number">
              Cost
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.key} data-key={r.key}>
              <th scope="row">
                <SandboxKey id={r.key} />
              </th>
              <td>{formatDuration(r.running_seconds)}</td>
              <td>{r.paused_seconds > 0 ? formatDuration(r.paused_seconds) : "—"}</td>
              <td className="number">{formatUsd(r.cost)}</td>
            </tr>
          ))}
        </tbody>
        <TotalRow label="Total" span={3} total={report.total_cost} />
      </table>
    </div>
  );
}

/** The days of the range, newest first, each resource's cost and the day's. */
export function DayTable({ series, caption }: { series: DayPoint[]; caption: string }) {
  const total = series.reduce((sum, p) => sum + p.total, 0);
  return (
    <div className="table-wrap">
      <table className="table">
        <caption className="visually-hidden">{caption}, the newest day first</caption>
        <thead>
          <tr>
            <th scope="col">Day (UTC)</th>
            {RESOURCES.map((r) => (
              <th key={r} scope="col" className="number">
                {RESOURCE_LABELS[r]}
              </th>
            ))}
            <th scope="col" className="number">
              Total
            </th>
          </tr>
        </thead>
        <tbody>
          {[...series].reverse().map((p) => (
            <tr key={p.day} data-day={p.day}>
              <th scope="row">
                <time dateTime={p.day}>{shortDay(p.day)}</time>
              </th>
              {RESOURCES.map((r) => (
                <td key={r} className="number">
                  {p[r] > 0 ? formatUsd(p[r]) : "—"}
                </td>
              ))}
              <td className="number">{formatUsd(p.total)}</td>
            </tr>
          ))}
        </tbody>
        <TotalRow label="Total" span={RESOURCES.length + 1} total={total} />
      </table>
    </div>
  );
}
