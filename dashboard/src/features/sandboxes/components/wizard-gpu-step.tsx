// The wizard's first step: whether the sandbox gets a GPU, which, how many and what share,
// with what the runners have free now.
import { describeError } from "@/api/problem";
import { Field } from "@/components/field";
import type { useGpus } from "../api/catalog";
import { fractionAllowed, GPU_FRACTIONS, GPU_TYPES, MAX_GPU_COUNT, sameModel } from "../lib/gpu-types";
import { KycNotice } from "./kyc-notice";
import type { StepProps } from "./wizard-form";

export function WizardGpuStep({
  form,
  errors,
  set,
  fieldRef,
  headingRef,
  gpus,
  kycNeeded,
  kycStatus,
}: StepProps & {
  /** The free GPUs, as the wizard reads them while it is open. */
  gpus: ReturnType<typeof useGpus>;
  kycNeeded: boolean;
  kycStatus: string;
}) {
  const models = gpus.data?.models ?? [];
  const gpuOptions = [
    ...GPU_TYPES,
    // Models the runners have that the list above does not name (e.g. declared cards).
    ...models.filter((m) => !GPU_TYPES.some((t) => sameModel(t.model, m.model))).map((m) => ({ model: m.model, label: m.model })),
  ];
  const freeNow = (model: string) => models.find((m) => sameModel(m.model, model));

  return (
    <fieldset className="step">
      <legend>
        <h3 tabIndex={-1} ref={headingRef}>
          GPU
        </h3>
      </legend>
      <p className="muted" role="status">
        {gpus.isPending
          ? "Checking which GPUs are free…"
          : gpus.isError
            ? `Free GPUs could not be read: ${describeError(gpus.error)}`
            : models.length === 0
              ? "No GPUs are available on this server right now. Choose No GPU, or a GPU sandbox waits (pending) until a runner with that card has room."
              : `Free now: ${models.map((m) => `${m.model}: ${m.whole_free_cards} whole card${m.whole_free_cards === 1 ? "" : "s"} of ${m.cards}, largest share ${Math.round(m.largest_free_share * 100)} %`).join("; ")}.`}
      </p>
      <Field label="GPU type" error={errors.gpuType}>
        {({ id, describedBy, invalid }) => (
          <select
            id={id}
            ref={fieldRef("gpuType")}
            aria-describedby={describedBy}
            aria-invalid={invalid || undefined}
            value={form.gpuType}
            onChange={(e) => set("gpuType", e.target.value)}
          >
            <option value="">No GPU</option>
            {gpuOptions.map((t) => {
              const m = freeNow(t.model);
              const free = m ? ` (${m.free} free)` : "";
              return (
                <option key={t.model} value={t.model}>
                  {t.label}
                  {free}
                </option>
              );
            })}
          </select>
        )}
      </Field>
      <div className="field-row">
        <Field label="Count" error={errors.gpuCount} hint="Whole cards, 1 to 8.">
          {({ id, describedBy, invalid }) => (
            <input
              id={id}
              ref={fieldRef("gpuCount")}
              type="number"
              min={1}
              max={MAX_GPU_COUNT}
              step={1}
              disabled={!form.gpuType}
              aria-describedby={describedBy}
              aria-invalid={invalid || undefined}
              value={form.gpuCount}
              onChange={(e) => {
                set("gpuCount", e.target.value);
                if (Number(e.target.value) > 1) set("gpuFraction", "1");
              }}
            />
          )}
        </Field>
        <Field label="Fraction" error={errors.gpuFraction} hint="Below 100 % only with one card.">
          {({ id, describedBy, invalid }) => (
            <select
              id={id}
              ref={fieldRef("gpuFraction")}
              disabled={!form.gpuType}
              aria-describedby={describedBy}
              aria-invalid={invalid || undefined}
              value={form.gpuFraction}
              onChange={(e) => set("gpuFraction", e.target.value)}
            >
              {GPU_FRACTIONS.map((f) => (
                <option key={f} value={String(f)} disabled={!fractionAllowed(f, Number(form.gpuCount))}>
                  {f * 100} %
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>
      {kycNeeded && <KycNotice status={kycStatus} />}
    </fieldset>
  );
}
