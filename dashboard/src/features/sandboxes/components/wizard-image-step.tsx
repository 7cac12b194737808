// The wizard's second step: an image from the catalog, one of the project's templates (its
// newest ready version, by name), or a custom reference with the credentials of a private
// registry.
import { describeError } from "@/api/problem";
import { Field } from "@/components/field";
import type { useTemplates } from "@/features/templates/api/templates";
import { readyTemplates } from "@/features/templates/lib/templates";
import type { useImages } from "../api/catalog";
import { CUSTOM, DEFAULT_IMAGE, type StepProps } from "./wizard-form";

export function WizardImageStep({
  form,
  errors,
  set,
  fieldRef,
  headingRef,
  images,
  templates,
  onChooseImage,
}: StepProps & {
  /** The curated images. */
  images: ReturnType<typeof useImages>;
  /** The project's templates: those ready are offered. */
  templates: ReturnType<typeof useTemplates>;
  /** Chooses an image (and its default resources, unless the person has set their own). */
  onChooseImage: (name: string) => void;
}) {
  const catalog = images.data?.data ?? [];
  const chosenImage = catalog.find((i) => i.name === form.image);
  const categories = [...new Set(catalog.map((i) => i.category))];
  const ready = readyTemplates(templates.data?.data ?? []);
  const chosenTemplate = ready.find((t) => t.name === form.image);
  const hint =
    form.image === CUSTOM
      ? "Any image reference Docker can pull."
      : chosenTemplate
        ? `Your template: its newest ready version (now ${chosenTemplate.image}), built from a Dockerfile.`
        : chosenImage?.description;

  return (
    <fieldset className="step">
      <legend>
        <h3 tabIndex={-1} ref={headingRef}>
          Image
        </h3>
      </legend>
      {images.isError && (
        <div role="alert" className="alert">
          The catalog could not be read: {describeError(images.error)}
        </div>
      )}
      {templates.isError && (
        <div role="alert" className="alert">
          Your templates could not be read: {describeError(templates.error)}
        </div>
      )}
      <Field label="Image" error={errors.image} hint={hint}>
        {({ id, describedBy, invalid }) => (
          <select
            id={id}
            ref={fieldRef("image")}
            aria-describedby={describedBy}
            aria-invalid={invalid || undefined}
            value={form.image}
            onChange={(e) => onChooseImage(e.target.value)}
          >
            {catalog.length === 0 && <option value={DEFAULT_IMAGE}>{DEFAULT_IMAGE}</option>}
            {categories.map((c) => (
              <optgroup key={c} label={c}>
                {catalog
                  .filter((i) => i.category === c)
                  .map((i) => (
                    <option key={i.name} value={i.name}>
                      {i.name}
                      {i.gpu ? " (for GPUs)" : ""}
                    </option>
                  ))}
              </optgroup>
            ))}
            {ready.length > 0 && (
              <optgroup label="Your templates">
                {ready.map((t) => (
                  <option key={t.name} value={t.name}>
                    {t.name} (template, {t.image})
                  </option>
                ))}
              </optgroup>
            )}
            <optgroup label="Other">
              <option value={CUSTOM}>A custom image…</option>
            </optgroup>
          </select>
        )}
      </Field>
      {form.image === CUSTOM && (
        <>
          <Field label="Custom image" error={errors.customImage}>
            {({ id, describedBy, invalid }) => (
              <input
                id={id}
                ref={fieldRef("customImage")}
                type="text"
                spellCheck={false}
                autoComplete="off"
                placeholder="registry.example.com/team/image:tag"
                aria-describedby={describedBy}
                aria-invalid={invalid || undefined}
                value={form.customImage}
                onChange={(e) => set("customImage", e.target.value)}
              />
            )}
          </Field>
          <div className="field-row">
            <Field label="Registry username" error={errors.registryUsername} hint="Only for a private registry.">
              {({ id, describedBy, invalid }) => (
                <input
                  id={id}
                  ref={fieldRef("registryUsername")}
                  type="text"
                  autoComplete="off"
                  aria-describedby={describedBy}
                  aria-invalid={invalid || undefined}
                  value={form.registryUsername}
                  onChange={(e) => set("registryUsername", e.target.value)}
                />
              )}
            </Field>
            <Field label="Registry password" error={errors.registryPassword} hint="Kept sealed; never shown again.">
              {({ id, describedBy, invalid }) => (
                <input
                  id={id}
                  ref={fieldRef("registryPassword")}
                  type="password"
                  autoComplete="new-password"
                  aria-describedby={describedBy}
                  aria-invalid={invalid || undefined}
                  value={form.registryPassword}
                  onChange={(e) => set("registryPassword", e.target.value)}
                />
              )}
            </Field>
          </div>
        </>
      )}
    </fieldset>
  );
}
