// The rates the meter charges now (`GET /v1/prices`): per second of one unit, and per hour.
import { formatHourly, formatUsd } from "@/lib/money";

import { rates, type PriceList } from "../lib/usage";

export function RatesTable({ prices }: { prices: PriceList }) {
  return (
    <div className="table-wrap">
      <table className="table">
        <caption className="visually-hidden">Rates in {prices.currency}</caption>
        <thead>
          <tr>
            <th scope="col">Resource</th>
            <th scope="col" className="number">
              Per second
            </th>
            <th scope="col" className="number">
              Per hour
            </th>
          </tr>
        </thead>
        <tbody>
          {rates(prices).map((r) => (
            <tr key={r.label}>
              <th scope="row">{r.label}</th>
              <td className="number">
                {formatUsd(r.perSecond)} / {r.unit}-second
              </td>
              <td className="number">{formatHourly(r.perSecond, r.unit)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
