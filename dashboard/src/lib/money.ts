// How amounts of money read anywhere in the dashboard (the Sandboxes list's "Cost so far", the
// Wallet): pure, unit-tested in `money.test.ts`. Costs are USD, and often fractions of a cent
// (a core-second is $0.000014), so small amounts keep three significant digits.

/** The most decimals shown; anything smaller than the last one reads as below it. */
const MAX_DECIMALS = 8;

const formatters = new Map<number, Intl.NumberFormat>();

function formatter(decimals: number): Intl.NumberFormat {
  let f = formatters.get(decimals);
  if (!f) {
    f = new Intl.NumberFormat("en-US", {
      style: "currency",
      currency: "USD",
      minimumFractionDigits: 2,
      maximumFractionDigits: decimals,
    });
    formatters.set(decimals, f);
  }
  return f;
}

/**
 * USD: `$1,234.56` from a dollar up (cents), below it three significant digits and at least
 * cents: `$0.50`, `$0.0504`, `$0.0000185`; `$0.00` for nothing, `< $0.00000001` for less.
 */
export function formatUsd(usd: number): string {
  if (!Number.isFinite(usd)) return "—";
  const abs = Math.abs(usd);
  if (abs === 0) return formatter(2).format(0);
  if (abs < 10 ** -MAX_DECIMALS) return `< ${formatter(MAX_DECIMALS).format(10 ** -MAX_DECIMALS)}`;
  const magnitude = Math.floor(Math.log10(abs));
  const decimals = Math.min(MAX_DECIMALS, Math.max(2, 2 - magnitude));
  return formatter(decimals).format(usd);
}

/** A rate per second as per hour: `$0.0504 / core-hour` for 0.000014 per core-second. */
export function formatHourly(perSecond: number, unit: string): string {
  return `${formatUsd(perSecond * 3600)} / ${unit}-hour`;
}
