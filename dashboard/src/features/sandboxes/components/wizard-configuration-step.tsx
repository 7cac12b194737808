// The wizard's last step: resources, timeout, environment variables, a container's network and
// declared ports, and the project.
import type { ProjectMembership } from "@/api/client";
import { Field } from "@/components/field";
import { MAX_DECLARED_PORTS } from "../lib/ports";
import { KycNotice } from "./kyc-notice";
import { offersNetwork, offersPorts, type StepProps } from "./wizard-form";
import { WizardNetwork } from "./wizard-network";

export function WizardConfigurationStep({
  form,
  errors,
  set,
  fieldRef,
  headingRef,
  projects,
  onResourcesEdited,
  nextEnvKey,
  kycNeeded,
  kycStatus,
}: StepProps & {
  /** The projects the sandbox can be created in. */
  projects: ProjectMembership[];
  /** Called when CPU or memory is edited: a later choice of image then keeps them. */
  onResourcesEdited: () => void;
  /** A key for a new environment variable row, unique for the life of the wizard. */
  nextEnvKey: () => number;
  kycNeeded: boolean;
  kycStatus: string;
}) {
  return (
    <fieldset className="step">
      <legend>
        <h3 tabIndex={-1} ref={headingRef}>
          Configuration
        </h3>
      </legend>
      <div className="field-row">
        <Field label="CPU" error={errors.cpu} hint="Cores, e.g. 1 or 0.5.">
          {({ id, describedBy, invalid }) => (
            <input
              id={id}
              ref={fieldRef("cpu")}
              type="text"
              inputMode="decimal"
              aria-describedby={describedBy}
              aria-invalid={invalid || undefined}
              value={form.cpu}
              onChange={(e) => {
                onResourcesEdited();
                set("cpu", e.target.value);
              }}
            />
          )}
        </Field>
        <Field label="Memory" error={errors.memory} hint="A quantity: 512Mi, 2Gi.">
          {({ id, describedBy, invalid }) => (
            <input
              id={id}
              ref={fieldRef("memory")}
              type="text"
              spellCheck={false}
              aria-describedby={describedBy}
              aria-invalid={invalid || undefined}
              value={form.memory}
              onChange={(e) => {
                onResourcesEdited();
                set("memory", e.target.value);
              }}
            />
          )}
        </Field>
        <Field label="Timeout (seconds)" error={errors.timeout} hint="Terminated after this; at most 86400.">
          {({ id, describedBy, invalid }) => (
            <input
              id={id}
              ref={fieldRef("timeout")}
              type="number"
              min={1}
              max={86400}
              step={1}
              aria-describedby={describedBy}
              aria-invalid={invalid || undefined}
              value={form.timeout}
              onChange={(e) => set("timeout", e.target.value)}
            />
          )}
        </Field>
      </div>

      <fieldset className="env" aria-describedby={errors.env ? "env-error" : undefined}>
        <legend>Environment variables</legend>
        {form.env.length === 0 && <p className="muted">None.</p>}
        {form.env.map((row, i) => (
          <div className="env-row" key={row.key}>
            <label>
              <span>Name</span>
              <input
                type="text"
                spellCheck={false}
                autoComplete="off"
                ref={i === 0 ? fieldRef("env") : undefined}
                value={row.name}
                aria-invalid={Boolean(errors.env) || undefined}
                onChange={(e) =>
                  set("env", form.env.map((r) => (r.key === row.key ? { ...r, name: e.target.value } : r)))
                }
              />
            </label>
            <label>
              <span>Value</span>
              <input
                type="text"
                spellCheck={false}
                autoComplete="off"
                value={row.value}
                onChange={(e) =>
                  set("env", form.env.map((r) => (r.key === row.key ? { ...r, value: e.target.value } : r)))
                }
              />
            </label>
            <button
              type="button"
              className="button small"
              aria-label={`Remove variable ${i + 1}${row.name ? ` (${row.name})` : ""}`}
              onClick={() => set("env", form.env.filter((r) => r.key !== row.key))}
            >
              Remove
            </button>
          </div>
        ))}
        {errors.env && (
          <span id="env-error" className="field-error">
            {errors.env}
          </span>
        )}
        <button
          type="button"
          className="button small"
          onClick={() => set("env", [...form.env, { key: nextEnvKey(), name: "", value: "" }])}
        >
          Add variable
        </button>
      </fieldset>

      {offersNetwork(form) && <WizardNetwork form={form} errors={errors} set={set} fieldRef={fieldRef} />}

      {offersPorts(form) && (
        <Field
          label="Ports"
          error={errors.ports}
          hint={`Optional: where servers will listen, listed on the sandbox's page. Numbers from 1 to 65,535 separated by commas or spaces, at most ${MAX_DECLARED_PORTS}.`}
        >
          {({ id, describedBy, invalid }) => (
            <input
              id={id}
              ref={fieldRef("ports")}
              type="text"
              spellCheck={false}
              autoComplete="off"
              placeholder="8000, 9000"
              aria-describedby={describedBy}
              aria-invalid={invalid || undefined}
              value={form.ports}
              onChange={(e) => set("ports", e.target.value)}
            />
          )}
        </Field>
      )}

      <Field label="Project" error={errors.project}>
        {({ id, describedBy }) => (
          <select
            id={id}
            ref={fieldRef("project")}
            aria-describedby={describedBy}
            value={form.projectId}
            onChange={(e) => set("projectId", e.target.value)}
          >
            {projects.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
        )}
      </Field>
      {kycNeeded && <KycNotice status={kycStatus} />}
      <p className="muted">Provisioning takes seconds to a couple of minutes.</p>
    </fieldset>
  );
}
