// The identity check's form: legal name, country, date of birth and an ID document (PNG,
// JPEG or PDF up to 10 MiB, sent as base64). Checked here first; problems the API answers
// about a field (422 with `field`) sit next to that field, anything else above the button.
import { useRef, useState, type FormEvent } from "react";

import { ApiError, describeError } from "@/api/problem";
import { Field } from "@/components/field";
import { COUNTRIES } from "@/lib/countries";

import { useSubmitKyc } from "../api/kyc";
import {
  DOCUMENT_ACCEPT,
  documentProblem,
  documentType,
  kycFieldOfProblem,
  readAsBase64,
  type KycField,
} from "../lib/document";

type Errors = Partial<Record<KycField, string>>;
const ORDER: KycField[] = ["legal_name", "country", "date_of_birth", "document"];

export function KycForm() {
  const [legalName, setLegalName] = useState("");
  const [country, setCountry] = useState("");
  const [dateOfBirth, setDateOfBirth] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const [errors, setErrors] = useState<Errors>({});
  const [reading, setReading] = useState(false);
  const refs = useRef<Partial<Record<KycField, HTMLElement | null>>>({});
  const submitKyc = useSubmitKyc();

  const showErrors = (e: Errors) => {
    setErrors(e);
    const first = ORDER.find((f) => e[f]);
    if (first) refs.current[first]?.focus();
  };
  const clear = (field: KycField) =>
    setErrors((e) => {
      const { [field]: _gone, ...rest } = e;
      return rest;
    });

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const found: Errors = {};
    if (!legalName.trim()) found.legal_name = "Give your legal name, as on the document.";
    if (!country) found.country = "Choose the country of the document.";
    if (!dateOfBirth) found.date_of_birth = "Give your date of birth.";
    if (!file) found.document = "Choose a file: a passport, identity card or driving licence.";
    else {
      const problem = documentProblem(file);
      if (problem) found.document = problem;
    }
    if (Object.keys(found).length > 0 || !file) return showErrors(found);

    setReading(true);
    let contentB64: string;
    try {
      contentB64 = await readAsBase64(file);
    } catch (err) {
      return showErrors({ document: `The file could not be read: ${describeError(err)}` });
    } finally {
      setReading(false);
    }
    submitKyc.mutate(
      {
        legal_name: legalName.trim(),
        country,
        date_of_birth: dateOfBirth,
        document: { name: file.name, content_type: documentType(file) ?? file.type, content_b64: contentB64 },
      },
      {
        onError: (err) => {
          const field = err instanceof ApiError ? kycFieldOfProblem(err.field) : null;
          // Over 10 MiB is a 413 about the document.
          const target = field ?? (err instanceof ApiError && err.status === 413 ? "document" : null);
          if (target) showErrors({ [target]: describeError(err) });
        },
      },
    );
  };

  const otherError =
    submitKyc.isError &&
    !(submitKyc.error instanceof ApiError && (kycFieldOfProblem(submitKyc.error.field) || submitKyc.error.status === 413));
  const busy = reading || submitKyc.isPending;

  return (
    <form className="kyc-form" onSubmit={submit} noValidate aria-label="Identity check">
      <Field label="Legal name" error={errors.legal_name} hint="As it is written on the document.">
        {({ id, describedBy, invalid }) => (
          <input
            id={id}
            ref={(el) => {
              refs.current.legal_name = el;
            }}
            autoComplete="name"
            maxLength={200}
            value={legalName}
            onChange={(e) => {
              setLegalName(e.target.value);
              clear("legal_name");
            }}
            aria-describedby={describedBy}
            aria-invalid={invalid || undefined}
          />
        )}
      </Field>
      <Field label="Country" error={errors.country} hint="The country that issued the document.">
        {({ id, describedBy, invalid }) => (
          <select
            id={id}
            ref={(el) => {
              refs.current.country = el;
            }}
            value={country}
            onChange={(e) => {
              setCountry(e.target.value);
              clear("country");
            }}
            aria-describedby={describedBy}
            aria-invalid={invalid || undefined}
          >
            <option value="">Choose a country…</option>
            {COUNTRIES.map((c) => (
              <option key={c.code} value={c.code}>
                {c.name}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Date of birth" error={errors.date_of_birth} hint="You must be 18 or older.">
        {({ id, describedBy, invalid }) => (
          <input
            id={id}
            ref={(el) => {
              refs.current.date_of_birth = el;
            }}
            type="date"
            autoComplete="bday"
            value={dateOfBirth}
            onChange={(e) => {
              setDateOfBirth(e.target.value);
              clear("date_of_birth");
            }}
            aria-describedby={describedBy}
            aria-invalid={invalid || undefined}
          />
        )}
      </Field>
      <Field
        label="ID document"
        error={errors.document}
        hint="A passport, identity card or driving licence: PNG, JPEG or PDF, at most 10 MiB. It is kept sealed; only operators can open it."
      >
        {({ id, describedBy, invalid }) => (
          <input
            id={id}
            ref={(el) => {
              refs.current.document = el;
            }}
            type="file"
            accept={DOCUMENT_ACCEPT}
            onChange={(e) => {
              const chosen = e.target.files?.[0] ?? null;
              setFile(chosen);
              const problem = chosen ? documentProblem(chosen) : null;
              setErrors((prev) => {
                const { document: _gone, ...rest } = prev;
                return problem ? { ...rest, document: problem } : rest;
              });
            }}
            aria-describedby={describedBy}
            aria-invalid={invalid || undefined}
          />
        )}
      </Field>
      {otherError && (
        <div role="alert" className="alert">
          {describeError(submitKyc.error)}
        </div>
      )}
      <button type="submit" className="button primary" disabled={busy}>
        {busy ? "Submitting…" : "Submit for verification"}
      </button>
    </form>
  );
}
