// The monthly budget: where the project stands this UTC month (spent, the limit, a meter, the
// state) and, for its owners, a form setting or removing the limit and the webhook that gets
// `budget.warning` (80 %) and `budget.exceeded` (100 %). Others are told they cannot; a 403
// from the API says the same. The API's validation errors show next to their fields.
import { useRef, useState, type FormEvent } from "react";

import { ApiError, describeError } from "@/api/problem";
import { Field } from "@/components/field";
import { useCurrentProject } from "@/features/auth/components/current-project";
import { formatUsd } from "@/lib/money";

import { useBudget, useSetBudget } from "../api/wallet";
import { budgetShare, describeBudgetState, parseLimit, type Budget } from "../lib/usage";

function monthOf(budget: Budget): string {
  return new Date(budget.period_start).toLocaleDateString("en-GB", { month: "long", year: "numeric", timeZone: "UTC" });
}

/** `1 December 2026`: the budget's months are UTC months. */
function utcDate(at: string): string {
  return new Date(at).toLocaleDateString("en-GB", { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
}

function BudgetStatus({ budget }: { budget: Budget }) {
  const share = budgetShare(budget);
  const limit = budget.monthly_limit_usd;
  return (
    <>
      {limit != null && share != null && (
        <div className="progress-field">
          <label htmlFor="budget-meter">Budget used</label>
          <meter
            id="budget-meter"
            min={0}
            max={1}
            low={0.8}
            high={0.999}
            optimum={0}
            value={share}
            aria-describedby="budget-meter-text"
          />
          <span id="budget-meter-text" data-testid="budget-used">
            {formatUsd(budget.spent_usd)} of {formatUsd(limit)} ({Math.floor(share * 100)} %)
          </span>
        </div>
      )}
      <dl className="details">
        <div className="detail">
          <dt>Spent in {monthOf(budget)}</dt>
          <dd data-testid="budget-spent">{formatUsd(budget.spent_usd)}</dd>
        </div>
        <div className="detail">
          <dt>Monthly limit</dt>
          <dd data-testid="budget-limit">{limit == null ? "None" : formatUsd(limit)}</dd>
        </div>
        <div className="detail">
          <dt>State</dt>
          <dd>
            <span className={`badge budget-${budget.state}`} data-testid="budget-state">
              {budget.state}
            </span>
          </dd>
        </div>
        <div className="detail">
          <dt>Counts again from</dt>
          <dd>
            <time dateTime={budget.period_end}>{utcDate(budget.period_end)}</time> (UTC)
          </dd>
        </div>
      </dl>
      {budget.state === "exceeded" ? (
        <div className="alert" data-testid="budget-exceeded">
          <strong>Budget exceeded.</strong> New work is refused and running sandboxes are paused (reason{" "}
          <code>budget</code>); nothing is deleted. Raise or remove the limit to work again, or wait for next month.
        </div>
      ) : budget.state === "warning" ? (
        <div className="notice">
          <strong>{describeBudgetState(budget.state)}.</strong> At 100 % new work is refused and running sandboxes
          are paused.
        </div>
      ) : null}
    </>
  );
}

function BudgetForm({ budget }: { budget: Budget }) {
  const [limit, setLimit] = useState(budget.monthly_limit_usd == null ? "" : String(budget.monthly_limit_usd));
  const [webhook, setWebhook] = useState(budget.webhook_url ?? "");
  const [limitError, setLimitError] = useState<string | undefined>();
  const [webhookError, setWebhookError] = useState<string | undefined>();
  const [done, setDone] = useState("");
  const limitInput = useRef<HTMLInputElement>(null);
  const webhookInput = useRef<HTMLInputElement>(null);
  const save = useSetBudget();

  const send = (monthlyLimit: number | null) => {
    setDone("");
    save.mutate(
      { monthly_limit_usd: monthlyLimit, webhook_url: webhook.trim() || null },
      {
        onSuccess: (b) => {
          setLimit(b.monthly_limit_usd == null ? "" : String(b.monthly_limit_usd));
          setWebhook(b.webhook_url ?? "");
          setDone(
            b.monthly_limit_usd == null
              ? "Saved: no monthly limit."
              : `Saved: a limit of ${formatUsd(b.monthly_limit_usd)} a month; ${b.state}.`,
          );
        },
        onError: (err) => {
          if (!(err instanceof ApiError)) return;
          if (err.field === "monthly_limit_usd") {
            setLimitError(describeError(err));
            limitInput.current?.focus();
          } else if (err.field === "webhook_url") {
            setWebhookError(describeError(err));
            webhookInput.current?.focus();
          }
        },
      },
    );
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const parsed = parseLimit(limit);
    if (parsed === undefined) {
      setLimitError("Give an amount in USD, such as 50 or 12.5, or leave it empty for no limit.");
      limitInput.current?.focus();
      return;
    }
    send(parsed);
  };

  const fieldError =
    save.error instanceof ApiError && (save.error.field === "monthly_limit_usd" || save.error.field === "webhook_url");
  return (
    <form className="inline-form" onSubmit={submit} noValidate aria-label="Set the budget">
      <Field label="Monthly limit (USD)" error={limitError} hint="Empty: no limit. Counted per UTC month.">
        {({ id, describedBy, invalid }) => (
          <input
            ref={limitInput}
            id={id}
            inputMode="decimal"
            autoComplete="off"
            value={limit}
            onChange={(e) => {
              setLimit(e.target.value);
              setLimitError(undefined);
            }}
            aria-describedby={describedBy}
            aria-invalid={invalid || undefined}
          />
        )}
      </Field>
      <Field
        label="Budget webhook URL"
        error={webhookError}
        hint={
          <>
            Gets <code>budget.warning</code> at 80 % and <code>budget.exceeded</code> at 100 %, signed with the
            webhook secret. Optional.
          </>
        }
      >
        {({ id, describedBy, invalid }) => (
          <input
            ref={webhookInput}
            id={id}
            type="url"
            autoComplete="off"
            placeholder="https://…"
            value={webhook}
            onChange={(e) => {
              setWebhook(e.target.value);
              setWebhookError(undefined);
            }}
            aria-describedby={describedBy}
            aria-invalid={invalid || undefined}
          />
        )}
      </Field>
      <button type="submit" className="button primary" disabled={save.isPending}>
        Save budget
      </button>
      {budget.monthly_limit_usd != null && (
        <button type="button" className="button" disabled={save.isPending} onClick={() => send(null)}>
          Remove limit
        </button>
      )}
      <p role="status" className="muted form-status">
        {done}
      </p>
      {save.isError && !fieldError && (
        <div role="alert" className="alert form-status">
          {describeError(save.error)}
        </div>
      )}
    </form>
  );
}

export function BudgetPanel() {
  const { project } = useCurrentProject();
  const budget = useBudget();
  const b = budget.data;
  return (
    <section className="panel" aria-labelledby="budget-heading">
      <h2 id="budget-heading">Budget</h2>
      {budget.isPending && <p role="status">Loading the budget…</p>}
      {budget.isError && (
        <div role="alert" className="alert">
          {describeError(budget.error)}
        </div>
      )}
      {b && (
        <>
          <BudgetStatus budget={b} />
          {project?.role === "owner" ? (
            <BudgetForm budget={b} />
          ) : (
            <p className="notice" role="note" data-testid="budget-owners-only">
              Only the project's owners set its budget; you are a {project?.role ?? "member"} of it.
            </p>
          )}
        </>
      )}
    </section>
  );
}
