// Extends (or shortens) a live sandbox's lifetime: it ends `timeout_s` seconds from now.
import { useRef, useState, type FormEvent } from "react";

import { ApiError, describeError } from "@/api/problem";
import { Field } from "@/components/field";

import { useSetTimeout } from "../api/sandbox";
import { formatDuration } from "../lib/format";

const MAX_TIMEOUT_S = 86_400;

export function TimeoutForm({ sandboxId, disabled }: { sandboxId: string; disabled: boolean }) {
  const [value, setValue] = useState("3600");
  const [fieldError, setFieldError] = useState<string | undefined>();
  const [done, setDone] = useState("");
  const input = useRef<HTMLInputElement>(null);
  const setTimeout_ = useSetTimeout(sandboxId);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setDone("");
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < 1 || n > MAX_TIMEOUT_S) {
      setFieldError(`Give a whole number of seconds from 1 to ${MAX_TIMEOUT_S.toLocaleString()}.`);
      input.current?.focus();
      return;
    }
    setFieldError(undefined);
    setTimeout_.mutate(n, {
      onSuccess: (s) => setDone(`It now ends in ${formatDuration(n)}, at ${new Date(s.expires_at).toLocaleString()}.`),
      onError: (err) => {
        if (err instanceof ApiError && err.field === "timeout_s") {
          setFieldError(describeError(err));
          input.current?.focus();
        }
      },
    });
  };

  const otherError =
    setTimeout_.isError && !(setTimeout_.error instanceof ApiError && setTimeout_.error.field === "timeout_s");
  return (
    <form className="inline-form" onSubmit={submit} noValidate aria-label="Extend the timeout">
      <Field label="Timeout (seconds)" error={fieldError} hint="From now; at most 86 400 (a day).">
        {({ id, describedBy, invalid }) => (
          <input
            ref={input}
            id={id}
            type="number"
            inputMode="numeric"
            min={1}
            max={MAX_TIMEOUT_S}
            value={value}
            onChange={(e) => {
              setValue(e.target.value);
              setFieldError(undefined);
            }}
            aria-describedby={describedBy}
            aria-invalid={invalid || undefined}
            disabled={disabled}
          />
        )}
      </Field>
      <button type="submit" className="button" disabled={disabled || setTimeout_.isPending}>
        Set timeout
      </button>
      <p role="status" className="muted form-status">
        {done}
      </p>
      {otherError && (
        <div role="alert" className="alert">
          {describeError(setTimeout_.error)}
        </div>
      )}
    </form>
  );
}
