import type { Template } from "../lib/templates";

/** A version's state as a badge: queued, building, ready or failed. */
export function TemplateStateBadge({ template, testId }: { template: Pick<Template, "state">; testId?: string }) {
  return (
    <span className={`badge template-${template.state}`} data-testid={testId}>
      {template.state}
    </span>
  );
}
