// Create Sandbox: three steps (GPU, Image, Configuration) in a modal dialog. Problems the API
// answers about a field (422 with `field`) take the person back to that field's step and sit
// next to it; anything else is an alert above the buttons. This file is the shell (dialog,
// stepper, navigation, submit); each step is its own component, the form's rules are in
// `wizard-form.ts`.
import * as Dialog from "@radix-ui/react-dialog";
import { useEffect, useRef, useState, type FormEvent } from "react";

import { ApiError, describeError } from "@/api/problem";
import { useCurrentProject } from "@/features/auth/components/current-project";
import { useTemplates } from "@/features/templates/api/templates";
import { returnFocus } from "@/lib/return-focus";
import { useGpus, useImages } from "../api/catalog";
import { useCreateSandbox, type Sandbox } from "../api/sandboxes";
import { WizardConfigurationStep } from "./wizard-configuration-step";
import {
  checkStep,
  CUSTOM,
  fieldOfProblem,
  initialForm,
  messageOfProblem,
  STEP_OF,
  STEPS,
  toRequest,
  type FieldErrors,
  type FieldName,
  type Form,
  type StepProps,
} from "./wizard-form";
import { WizardGpuStep } from "./wizard-gpu-step";
import { WizardImageStep } from "./wizard-image-step";

export function CreateSandboxWizard({
  open,
  onOpenChange,
  onCreated,
}: {
  open: boolean;
  onOpenChange: (open: boolean) => void;
  onCreated: (sandbox: Sandbox) => void;
}) {
  const { session, project, setProjectId } = useCurrentProject();
  const [step, setStep] = useState(0);
  const [form, setForm] = useState<Form>(() => initialForm(project?.id ?? ""));
  const [errors, setErrors] = useState<FieldErrors>({});
  const [resourcesEdited, setResourcesEdited] = useState(false);
  // Bumped to move the focus to a field at fault without a change of step.
  const [focusRequest, setFocusRequest] = useState(0);
  const envKey = useRef(0);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const fieldRefs = useRef<Partial<Record<FieldName, HTMLElement | null>>>({});
  const focusField = useRef<FieldName | null>(null);
  // The wizard opens from more than one button: the focus goes back to the one used.
  const openedFrom = useRef<HTMLElement | null>(null);
  const images = useImages();
  const gpus = useGpus(open);
  // The project's own images, offered beside the catalog's.
  const templates = useTemplates({ enabled: open });
  const create = useCreateSandbox();

  // A fresh wizard each time it opens.
  useEffect(() => {
    if (open) {
      setStep(0);
      setForm(initialForm(project?.id ?? ""));
      setErrors({});
      setResourcesEdited(false);
      create.reset();
    }
  }, [open]);

  // Each new step is announced by moving focus to its heading, or to the field at fault.
  useEffect(() => {
    if (!open) return;
    const target = focusField.current ? fieldRefs.current[focusField.current] : headingRef.current;
    focusField.current = null;
    target?.focus();
  }, [step, open, focusRequest]);

  const set = <K extends keyof Form>(key: K, value: Form[K]) => {
    setForm((f) => ({ ...f, [key]: value }));
    setErrors((e) => {
      if (!(key in e)) return e;
      const { [key as FieldName]: _gone, ...rest } = e;
      void _gone;
      return rest;
    });
  };

  const catalog = images.data?.data ?? [];
  const kycNeeded = Boolean(form.gpuType) && session.user.kyc_status !== "verified";

  const chooseImage = (name: string) => {
    set("image", name);
    const img = catalog.find((i) => i.name === name);
    if (img && !resourcesEdited) {
      setForm((f) => ({ ...f, image: name, cpu: String(img.default_resources.cpu), memory: img.default_resources.memory }));
    }
  };

  const showErrors = (found: FieldErrors) => {
    const first = (Object.keys(found) as FieldName[]).sort((a, b) => STEP_OF[a] - STEP_OF[b])[0];
    setErrors(found);
    if (first) {
      focusField.current = first;
      setStep(STEP_OF[first]);
      setFocusRequest((n) => n + 1);
    }
  };

  const next = () => {
    const found = checkStep(step, form);
    if (Object.keys(found).length) return showErrors(found);
    setErrors({});
    setStep((s) => Math.min(s + 1, STEPS.length - 1));
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (step < STEPS.length - 1) return next();
    const found = { ...checkStep(0, form), ...checkStep(1, form), ...checkStep(2, form) };
    if (Object.keys(found).length) return showErrors(found);
    create.mutate(
      { body: toRequest(form), projectId: form.projectId || null },
      {
        onSuccess: (sandbox) => {
          if (form.projectId && form.projectId !== project?.id) setProjectId(form.projectId);
          onOpenChange(false);
          onCreated(sandbox);
        },
        onError: (err) => {
          if (err instanceof ApiError && err.field) {
            const field = fieldOfProblem(err.field, form.image === CUSTOM);
            if (field) {
              create.reset();
              showErrors({ [field]: messageOfProblem(err.field, err.problem.detail, form) });
            }
          }
        },
      },
    );
  };

  const fieldRef = (name: FieldName) => (el: HTMLElement | null) => {
    fieldRefs.current[name] = el;
  };

  const stepProps: StepProps = { form, errors, set, fieldRef, headingRef };

  return (
    <Dialog.Root open={open} onOpenChange={onOpenChange}>
      <Dialog.Portal>
        <Dialog.Overlay className="overlay" />
        <Dialog.Content
          className="dialog wizard"
          aria-describedby="wizard-description"
          onOpenAutoFocus={(e) => {
            openedFrom.current = document.activeElement as HTMLElement | null;
            // The first step's heading, not the Close button: the step is what is announced.
            e.preventDefault();
            headingRef.current?.focus();
          }}
          onCloseAutoFocus={(e) => {
            e.preventDefault();
            returnFocus(openedFrom.current);
          }}
        >
          <div className="dialog-header">
            <Dialog.Title>Create Sandbox</Dialog.Title>
            <Dialog.Close className="icon-button" aria-label="Close">
              ✕
            </Dialog.Close>
          </div>
          <Dialog.Description id="wizard-description" className="muted">
            Step {step + 1} of {STEPS.length}: {STEPS[step]}
          </Dialog.Description>
          <ol className="stepper" aria-label="Steps">
            {STEPS.map((name, i) => (
              <li key={name} aria-current={i === step ? "step" : undefined} className={i < step ? "done" : i === step ? "current" : ""}>
                <span className="step-number" aria-hidden="true">
                  {i < step ? "✓" : i + 1}
                </span>
                <span>{name}</span>
              </li>
            ))}
          </ol>

          <form onSubmit={submit} noValidate>
            {step === 0 && (
              <WizardGpuStep {...stepProps} gpus={gpus} kycNeeded={kycNeeded} kycStatus={session.user.kyc_status} />
            )}

            {step === 1 && <WizardImageStep {...stepProps} images={images} templates={templates} onChooseImage={chooseImage} />}

            {step === 2 && (
              <WizardConfigurationStep
                {...stepProps}
                projects={session.projects}
                onResourcesEdited={() => setResourcesEdited(true)}
                nextEnvKey={() => ++envKey.current}
                kycNeeded={kycNeeded}
                kycStatus={session.user.kyc_status}
              />
            )}

            {create.isError && (
              <div role="alert" className="alert">
                {describeError(create.error)}
              </div>
            )}

            <div className="dialog-actions">
              {step > 0 && (
                <button type="button" className="button" onClick={() => setStep((s) => s - 1)}>
                  Back
                </button>
              )}
              {step < STEPS.length - 1 ? (
                <button type="submit" className="button primary">
                  Next
                </button>
              ) : (
                <button type="submit" className="button primary" disabled={create.isPending}>
                  {create.isPending ? "Creating…" : "Create Sandbox"}
                </button>
              )}
            </div>
          </form>
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
}
