// Cost per UTC day, stacked by resource: a Recharts bar chart (bundled: nothing is fetched from
// the net). The chart is an image named by its caption and described by a sentence under it;
// its data is also a table (in the disclosure under it), which keyboard and screen reader
// users read instead of hovering the bars.
import { useId } from "react";
import { Bar, BarChart, CartesianGrid, Legend, Rectangle, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";

import { formatUsd } from "@/lib/money";

import {
  describeSeries,
  RESOURCE_COLOURS,
  RESOURCE_LABELS,
  RESOURCES,
  resourcesUsed,
  shortDay,
  type DayPoint,
  type Resource,
} from "../lib/usage";
import { DayTable } from "./usage-tables";

/** The axis ticks: whole cents and up as money, smaller amounts as they come. */
function tick(usd: number): string {
  return usd === 0 ? "$0" : formatUsd(usd);
}

export function CostChart({ series }: { series: DayPoint[] }) {
  const id = useId();
  const captionId = `${id}-caption`;
  const summaryId = `${id}-summary`;
  const used = resourcesUsed(series);
  const drawn: Resource[] = used.length ? used : ["cpu"];

  return (
    <figure className="chart" aria-labelledby={captionId}>
      <figcaption id={captionId} className="chart-caption">
        Cost per day, by resource (USD)
      </figcaption>
      <div className="chart-area" role="img" aria-labelledby={captionId} aria-describedby={summaryId} data-testid="cost-chart">
        <ResponsiveContainer width="100%" height={280}>
          <BarChart data={series} accessibilityLayer={false} margin={{ top: 8, right: 12, bottom: 0, left: 8 }}>
            <CartesianGrid vertical={false} stroke="#e3e6eb" />
            <XAxis dataKey="day" tickFormatter={shortDay} tick={{ fill: "#566070", fontSize: 12 }} minTickGap={12} />
            <YAxis tickFormatter={tick} tick={{ fill: "#566070", fontSize: 12 }} width={84} />
            <Tooltip
              formatter={(value) => formatUsd(Number(value))}
              labelFormatter={(day) => shortDay(String(day))}
              // As the bar reads, from the top of the stack down.
              itemSorter={(item) => -RESOURCES.indexOf(item.dataKey as Resource)}
              isAnimationActive={false}
            />
            {/* In the stacking order, not by name. */}
            {used.length > 0 && <Legend itemSorter={null} />}
            {drawn.map((r) => (
              <Bar
                key={r}
                dataKey={r}
                name={RESOURCE_LABELS[r]}
                stackId="cost"
                fill={RESOURCE_COLOURS[r]}
                isAnimationActive={false}
                shape={(props) => (
                  <Rectangle {...props} data-day={(props.payload as DayPoint).day} data-resource={r} className="chart-bar" />
                )}
              />
            ))}
          </BarChart>
        </ResponsiveContainer>
      </div>
      <p id={summaryId} className="muted chart-summary">
        {describeSeries(series, formatUsd)}
      </p>
      <details className="chart-data">
        <summary>The chart as a table</summary>
        <DayTable series={series} caption="Cost per day, by resource" />
      </details>
    </figure>
  );
}
