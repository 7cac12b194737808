// The Wallet: the monthly budget, what was spent (a chart of cost per day stacked by resource
// and the breakdown by resource, sandbox or day, over the last 7, 30 or 90 days), the running
// and paused sandboxes' cost so far, and the current rates.
import { useState } from "react";

import { describeError } from "@/api/problem";
import { formatUsd } from "@/lib/money";

import { usePrices, useUsage } from "../api/wallet";
import { BudgetPanel } from "../components/budget-panel";
import { CostChart } from "../components/cost-chart";
import { LiveSandboxes } from "../components/live-sandboxes";
import { RatesTable } from "../components/rates-table";
import { DayTable, ResourceTable, SandboxTable } from "../components/usage-tables";
import { daySeries, RANGES, type GroupBy, type RangeDays } from "../lib/usage";

const VIEWS: { value: GroupBy; label: string }[] = [
  { value: "resource", label: "By resource" },
  { value: "sandbox", label: "By sandbox" },
  { value: "day", label: "By day" },
];

function Spending() {
  const [days, setDays] = useState<RangeDays>(30);
  const [view, setView] = useState<GroupBy>("resource");
  const byDay = useUsage("day", days);
  const breakdown = useUsage(view, days);
  const series = byDay.data ? daySeries(byDay.data) : null;
  const error = byDay.error ?? breakdown.error;

  return (
    <section className="panel" aria-labelledby="spending-heading">
      <div className="panel-header">
        <h2 id="spending-heading">Spending</h2>
        <label className="field inline">
          <span>Range</span>
          <select value={days} onChange={(e) => setDays(Number(e.target.value) as RangeDays)}>
            {RANGES.map((d) => (
              <option key={d} value={d}>
                Last {d} days
              </option>
            ))}
          </select>
        </label>
      </div>
      {error && (
        <div role="alert" className="alert">
          {describeError(error)}
        </div>
      )}
      {byDay.data && (
        <p className="total">
          Spent in the last {days} days: <strong data-testid="range-total">{formatUsd(byDay.data.total_cost)}</strong>
          <span className="muted"> (UTC days, today's so far)</span>
        </p>
      )}
      {series ? <CostChart series={series} /> : !error && <p role="status">Loading the usage…</p>}

      <fieldset className="segmented">
        <legend>Breakdown</legend>
        {VIEWS.map((v) => (
          <label key={v.value} className={view === v.value ? "checked" : undefined}>
            <input
              type="radio"
              name="usage-view"
              value={v.value}
              checked={view === v.value}
              onChange={() => setView(v.value)}
            />
            {v.label}
          </label>
        ))}
      </fieldset>
      <div data-testid="breakdown">
        {breakdown.data &&
          (breakdown.data.rows.length === 0 ? (
            <p className="muted">Nothing was used in this range.</p>
          ) : view === "resource" ? (
            <ResourceTable report={breakdown.data} />
          ) : view === "sandbox" ? (
            <SandboxTable report={breakdown.data} />
          ) : (
            <DayTable series={daySeries(breakdown.data)} caption="Cost by day and resource" />
          ))}
      </div>
    </section>
  );
}

function Rates() {
  const prices = usePrices();
  return (
    <section className="panel" aria-labelledby="rates-heading">
      <h2 id="rates-heading">Rates</h2>
      <p className="muted">What each resource costs now, per second of one unit held, as usage is charged.</p>
      {prices.isError && (
        <div role="alert" className="alert">
          {describeError(prices.error)}
        </div>
      )}
      {prices.isPending ? <p role="status">Loading the rates…</p> : prices.data && <RatesTable prices={prices.data} />}
    </section>
  );
}

export function WalletPage() {
  return (
    <section className="page" aria-labelledby="wallet-heading">
      <div className="page-header">
        <h1 id="wallet-heading">Wallet</h1>
      </div>
      <BudgetPanel />
      <Spending />
      <section className="panel" aria-labelledby="live-heading">
        <h2 id="live-heading">Running and paused sandboxes</h2>
        <LiveSandboxes />
      </section>
      <Rates />
    </section>
  );
}
