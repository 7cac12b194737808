// A container's ports: the list of its ports (declared, and any a server listens on, with
// whether one listens now; `ports-list.tsx`), each with Open preview, and Declare a port.
// Open preview signs a URL for a port (`POST …/previews`) that opens the server listening on it
// in a browser, without an API key, for as long as chosen (15 minutes, an hour, a day) or until
// the sandbox ends; the URL is shown as a link (a new tab), with a copy button and when it
// expires. The server's 422 is shown next to the field it names. Shown while the container
// runs or is paused (a URL works again once it is resumed).
import { useEffect, useId, useRef, useState, type FormEvent } from "react";

import { ApiError, describeError } from "@/api/problem";
import { CopyButton } from "@/components/copy-button";
import { Field } from "@/components/field";
import { Time } from "@/components/time";

import { useCreatePreview } from "../api/previews";
import type { Sandbox } from "../api/sandboxes";
import {
  EXPIRY_CHOICES,
  fieldOfProblem,
  initialPreviewForm,
  MAX_PORT,
  MIN_PORT,
  toPreviewRequest,
  type PreviewErrors,
  type PreviewField,
  type PreviewForm,
  type PreviewView,
} from "../lib/previews";
import { DeclarePortForm, PortsTable } from "./ports-list";

const FIELD_ORDER: PreviewField[] = ["port", "expiresIn"];

function PreviewUrl({ preview }: { preview: PreviewView }) {
  const headingId = useId();
  return (
    <section className="preview-url" aria-labelledby={headingId} data-port={preview.port}>
      <h3 id={headingId}>Preview of port {preview.port}</h3>
      <p className="secret-row">
        <a href={preview.url} target="_blank" rel="noopener noreferrer" className="secret">
          {preview.url}
          <span className="visually-hidden"> (opens in a new tab)</span>
        </a>
        <CopyButton text={preview.url} label="Copy URL" />
      </p>
      <p className="muted preview-expiry">
        Expires <Time at={preview.expires_at} />, or sooner if the sandbox ends.
      </p>
    </section>
  );
}

export function PortsPanel({ sandbox }: { sandbox: Sandbox }) {
  const [form, setForm] = useState<PreviewForm>(initialPreviewForm);
  const [errors, setErrors] = useState<PreviewErrors>({});
  // The last URL signed: it keeps working while another is asked for.
  const [shown, setShown] = useState<PreviewView | null>(null);
  const [announcement, setAnnouncement] = useState("");
  const create = useCreatePreview(sandbox.id);
  const refs = useRef<Partial<Record<PreviewField, HTMLInputElement | HTMLSelectElement | null>>>({});
  const hintId = useId();
  const formHeadingId = useId();
  const shownRef = useRef<HTMLDivElement>(null);
  // A preview asked for from the list: its URL is shown below the form, brought into view.
  const reveal = useRef(false);

  useEffect(() => {
    if (reveal.current) shownRef.current?.scrollIntoView?.({ block: "nearest" });
    reveal.current = false;
  }, [shown]);

  const set = <K extends keyof PreviewForm>(key: K, value: PreviewForm[K]) => {
    setForm((f) => ({ ...f, [key]: value }));
    if (key in errors) setErrors((e) => ({ ...e, [key]: undefined }));
  };
  const focusFirst = (e: PreviewErrors) => {
    const first = FIELD_ORDER.find((f) => e[f]);
    if (first) refs.current[first]?.focus();
  };

  const ask = (asked: PreviewForm) => {
    if (create.isPending) return;
    setAnnouncement("");
    const request = toPreviewRequest(asked);
    if ("errors" in request) {
      setErrors(request.errors);
      focusFirst(request.errors);
      return;
    }
    setErrors({});
    create.mutate(request.body, {
      onSuccess: (preview) => {
        setShown(preview);
        setAnnouncement(
          `Preview URL of port ${preview.port} ready; it expires ${new Date(preview.expires_at).toLocaleString()}.`,
        );
      },
      onError: (err) => {
        const field = err instanceof ApiError && err.status === 422 ? fieldOfProblem(err.field) : null;
        if (field) {
          const next = { [field]: describeError(err) };
          setErrors(next);
          focusFirst(next);
        }
      },
    });
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    ask(form);
  };

  // Open preview on a row: that port, for as long as the form's Expires in says.
  const previewPort = (port: number) => {
    const asked = { ...form, port: String(port) };
    setForm(asked);
    setErrors({});
    reveal.current = true;
    ask(asked);
  };

  const otherError =
    create.isError && !(create.error instanceof ApiError && create.error.status === 422 && fieldOfProblem(create.error.field));

  return (
    <div className="ports">
      {sandbox.state === "paused" && (
        <p className="muted">The sandbox is paused: a preview URL works once it is resumed.</p>
      )}
      <PortsTable
        sandbox={sandbox}
        onPreview={previewPort}
        previewPending={create.isPending}
        previewHintId={hintId}
        onAnnounce={setAnnouncement}
      />
      <h3 id={formHeadingId} className="ports-subheading">
        Open a preview
      </h3>
      <p id={hintId} className="hint files-hint">
        Anyone with the link reaches this port until it expires.
      </p>
      <form className="inline-form ports-form" onSubmit={submit} noValidate aria-labelledby={formHeadingId}>
        <Field label="Port" error={errors.port} hint={`Where the server listens, ${MIN_PORT} to ${MAX_PORT.toLocaleString("en")}.`}>
          {({ id, describedBy, invalid }) => (
            <input
              ref={(el) => {
                refs.current.port = el;
              }}
              id={id}
              type="number"
              inputMode="numeric"
              min={MIN_PORT}
              max={MAX_PORT}
              placeholder="8000"
              autoComplete="off"
              value={form.port}
              onChange={(e) => set("port", e.target.value)}
              aria-describedby={describedBy}
              aria-invalid={invalid || undefined}
            />
          )}
        </Field>
        <Field label="Expires in" error={errors.expiresIn}>
          {({ id, describedBy, invalid }) => (
            <select
              ref={(el) => {
                refs.current.expiresIn = el;
              }}
              id={id}
              value={form.expiresIn}
              onChange={(e) => set("expiresIn", Number(e.target.value))}
              aria-describedby={describedBy}
              aria-invalid={invalid || undefined}
            >
              {EXPIRY_CHOICES.map((c) => (
                <option key={c.seconds} value={c.seconds}>
                  {c.label}
                </option>
              ))}
            </select>
          )}
        </Field>
        <button type="submit" className="button primary" disabled={create.isPending} aria-describedby={hintId}>
          {create.isPending ? "Opening…" : "Open preview"}
        </button>
      </form>
      <div role="status" className="visually-hidden">
        {announcement}
      </div>
      {otherError && (
        <div role="alert" className="alert">
          {describeError(create.error)}
        </div>
      )}
      <div ref={shownRef}>{shown && <PreviewUrl key={shown.url} preview={shown} />}</div>
      <DeclarePortForm sandbox={sandbox} onAnnounce={setAnnouncement} />
    </div>
  );
}
