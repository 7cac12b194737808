// The Configuration step's network choice, for a container: none (loopback only), full, or an
// allow list (host names, addresses, CIDR ranges; one a line) reached through the egress proxy.
// The server checks the entries; its problem about `network.allow[i]` sits under the list,
// naming the line.
import { Field } from "@/components/field";
import { MAX_ALLOW_ENTRIES, NETWORK_CHOICES } from "../lib/network";
import type { StepProps } from "./wizard-form";

export function WizardNetwork({ form, errors, set, fieldRef }: Omit<StepProps, "headingRef">) {
  const chosen = NETWORK_CHOICES.find((c) => c.value === form.network) ?? NETWORK_CHOICES[0]!;
  return (
    <>
      <div className="field network-field">
        <fieldset
          className="segmented"
          aria-describedby={["network-hint", errors.network ? "network-error" : null].filter(Boolean).join(" ")}
        >
          <legend>Network</legend>
          {NETWORK_CHOICES.map((c) => {
            const checked = form.network === c.value;
            return (
              <label key={c.value} className={checked ? "checked" : undefined}>
                <input
                  type="radio"
                  name="network"
                  value={c.value}
                  ref={checked ? fieldRef("network") : undefined}
                  checked={checked}
                  onChange={() => set("network", c.value)}
                />
                {c.label}
              </label>
            );
          })}
        </fieldset>
        <span id="network-hint" className="hint">
          {chosen.hint}
        </span>
        {errors.network && (
          <span id="network-error" className="field-error">
            {errors.network}
          </span>
        )}
      </div>
      {form.network === "allow" && (
        <Field
          label="Allowed hosts"
          error={errors.allowList}
          hint={
            <>
              One a line: a host name (<code>pypi.org</code>), <code>*.example.com</code> for its subdomains, an IP
              address or a CIDR range (<code>203.0.113.0/24</code>); at most {MAX_ALLOW_ENTRIES}.
            </>
          }
        >
          {({ id, describedBy, invalid }) => (
            <textarea
              id={id}
              ref={fieldRef("allowList")}
              rows={4}
              spellCheck={false}
              autoComplete="off"
              autoCapitalize="none"
              placeholder={"pypi.org\nfiles.pythonhosted.org"}
              aria-describedby={describedBy}
              aria-invalid={invalid || undefined}
              value={form.allowList}
              onChange={(e) => set("allowList", e.target.value)}
            />
          )}
        </Field>
      )}
    </>
  );
}
