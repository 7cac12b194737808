// New template: a name, a Dockerfile, whether its RUN steps may reach the network and how
// long the build may take. The Dockerfile goes as the one file of a tar made here; the server
// answers at once (queued) and the caller shows the build. A problem the API answers about a
// field (422 naming `name`, `timeout_s`, `dockerfile`; a base not ready) sits next to it and
// takes the focus; anything else is an alert above the buttons.
import * as Dialog from "@radix-ui/react-dialog";
import { useEffect, useRef, useState, type FormEvent } from "react";

import { ApiError, describeError } from "@/api/problem";
import { Field } from "@/components/field";
import { returnFocus } from "@/lib/return-focus";

import { useCreateTemplate } from "../api/templates";
import {
  checkTemplateForm,
  DEFAULT_BUILD_TIMEOUT_S,
  fieldOfTemplateProblem,
  initialTemplateForm,
  MAX_BUILD_TIMEOUT_S,
  type Template,
  type TemplateErrors,
  type TemplateField,
  type TemplateForm,
} from "../lib/templates";

const FIELD_ORDER: TemplateField[] = ["name", "dockerfile", "timeout"];

export function NewTemplateDialog({
  open,
  onOpenChange,
  name,
  onCreated,
}: {
  open: boolean;
  onOpenChange: (open: boolean) => void;
  /** A template's name, to build its next version; none for a new template. */
  name?: string;
  onCreated: (template: Template) => void;
}) {
  const [form, setForm] = useState<TemplateForm>(() => initialTemplateForm(name));
  const [errors, setErrors] = useState<TemplateErrors>({});
  const [focusRequest, setFocusRequest] = useState(0);
  const create = useCreateTemplate();
  const openedFrom = useRef<HTMLElement | null>(null);
  const fields = useRef<Partial<Record<TemplateField, HTMLInputElement | HTMLTextAreaElement | null>>>({});

  // A fresh form each time it opens.
  useEffect(() => {
    if (open) {
      setForm(initialTemplateForm(name));
      setErrors({});
      create.reset();
    }
  }, [open, name]);

  // The first field at fault takes the focus, so its message is read.
  useEffect(() => {
    if (focusRequest === 0) return;
    const first = FIELD_ORDER.find((f) => errors[f]);
    if (first) fields.current[first]?.focus();
  }, [focusRequest]);

  const set = <K extends keyof TemplateForm>(key: K, value: TemplateForm[K]) => {
    setForm((f) => ({ ...f, [key]: value }));
    const field = key as TemplateField;
    setErrors((e) => {
      if (!(field in e)) return e;
      const { [field]: _gone, ...rest } = e;
      void _gone;
      return rest;
    });
  };

  const showErrors = (found: TemplateErrors) => {
    setErrors(found);
    setFocusRequest((n) => n + 1);
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const found = checkTemplateForm(form);
    if (Object.keys(found).length) return showErrors(found);
    setErrors({});
    create.mutate(form, {
      onSuccess: (template) => {
        onOpenChange(false);
        onCreated(template);
      },
      onError: (err) => {
        const field = err instanceof ApiError ? fieldOfTemplateProblem(err.problem) : null;
        if (field) {
          create.reset();
          showErrors({ [field]: describeError(err) });
        }
      },
    });
  };

  const fieldRef = (f: TemplateField) => (el: HTMLInputElement | HTMLTextAreaElement | null) => {
    fields.current[f] = el;
  };

  return (
    <Dialog.Root open={open} onOpenChange={onOpenChange}>
      <Dialog.Portal>
        <Dialog.Overlay className="overlay" />
        <Dialog.Content
          className="dialog"
          aria-describedby="new-template-description"
          onOpenAutoFocus={() => {
            openedFrom.current = document.activeElement as HTMLElement | null;
          }}
          onCloseAutoFocus={(e) => {
            e.preventDefault();
            returnFocus(openedFrom.current);
          }}
        >
          <div className="dialog-header">
            <Dialog.Title>{name ? `New version of ${name}` : "New template"}</Dialog.Title>
            <Dialog.Close className="icon-button" aria-label="Close">
              ✕
            </Dialog.Close>
          </div>
          <Dialog.Description id="new-template-description" className="muted">
            A template is your own container image, built from a Dockerfile. Sandboxes and jobs run
            it as their image.
          </Dialog.Description>
          <form onSubmit={submit} noValidate className="template-form">
            <Field
              label="Name"
              error={errors.name}
              hint="1 to 63 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit. Building a name again makes its next version."
            >
              {({ id, describedBy, invalid }) => (
                <input
                  id={id}
                  ref={fieldRef("name")}
                  type="text"
                  spellCheck={false}
                  autoComplete="off"
                  maxLength={63}
                  placeholder="my-env"
                  readOnly={Boolean(name)}
                  aria-describedby={describedBy}
                  aria-invalid={invalid || undefined}
                  value={form.name}
                  onChange={(e) => set("name", e.target.value)}
                />
              )}
            </Field>
            <Field
              label="Dockerfile"
              error={errors.dockerfile}
              hint={
                <>
                  Starts <code>FROM</code> a catalog image (e.g. <code>python</code>), another of your
                  templates or an image the server has: nothing is pulled.
                </>
              }
            >
              {({ id, describedBy, invalid }) => (
                <textarea
                  id={id}
                  ref={fieldRef("dockerfile")}
                  rows={10}
                  spellCheck={false}
                  autoComplete="off"
                  aria-describedby={describedBy}
                  aria-invalid={invalid || undefined}
                  value={form.dockerfile}
                  onChange={(e) => set("dockerfile", e.target.value)}
                />
              )}
            </Field>
            <div className="field-row">
              <Field
                label="Build timeout (seconds)"
                error={errors.timeout}
                hint={`Optional: 1 to ${MAX_BUILD_TIMEOUT_S}; ${DEFAULT_BUILD_TIMEOUT_S} by default.`}
              >
                {({ id, describedBy, invalid }) => (
                  <input
                    id={id}
                    ref={fieldRef("timeout")}
                    type="number"
                    inputMode="numeric"
                    min={1}
                    max={MAX_BUILD_TIMEOUT_S}
                    step={1}
                    placeholder={String(DEFAULT_BUILD_TIMEOUT_S)}
                    aria-describedby={describedBy}
                    aria-invalid={invalid || undefined}
                    value={form.timeout}
                    onChange={(e) => set("timeout", e.target.value)}
                  />
                )}
              </Field>
              <div className="field">
                <label className="checkbox">
                  <input
                    type="checkbox"
                    checked={form.network}
                    onChange={(e) => set("network", e.target.checked)}
                    aria-describedby="new-template-network-hint"
                  />
                  Allow network
                </label>
                <span id="new-template-network-hint" className="hint">
                  Lets <code>RUN</code> steps reach the network (<code>pip install</code>, <code>apt-get</code>).
                  Off: they have none.
                </span>
              </div>
            </div>
            {create.isError && (
              <div role="alert" className="alert">
                {describeError(create.error)}
              </div>
            )}
            <div className="dialog-actions">
              <Dialog.Close className="button">Cancel</Dialog.Close>
              <button type="submit" className="button primary" disabled={create.isPending}>
                {create.isPending ? "Building…" : "Build template"}
              </button>
            </div>
          </form>
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
}
