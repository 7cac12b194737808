// Create key: asks for its name, then shows the secret this once, with a copy button.
import * as Dialog from "@radix-ui/react-dialog";
import { useEffect, useRef, useState, type FormEvent } from "react";

import { ApiError, describeError } from "@/api/problem";
import { CopyButton } from "@/components/copy-button";
import { Field } from "@/components/field";
import { returnFocus } from "@/lib/return-focus";

import { useCreateKey } from "../api/keys";

export function CreateKeyDialog({ open, onOpenChange }: { open: boolean; onOpenChange: (open: boolean) => void }) {
  const [name, setName] = useState("");
  const [nameError, setNameError] = useState<string | undefined>();
  const create = useCreateKey();
  const openedFrom = useRef<HTMLElement | null>(null);
  const secretRef = useRef<HTMLInputElement>(null);
  const created = create.data;

  useEffect(() => {
    if (open) {
      setName("");
      setNameError(undefined);
      create.reset();
    }
  }, [open]);
  // The secret takes the focus (and is selected): it is what to copy now.
  useEffect(() => {
    if (created) secretRef.current?.select();
  }, [created]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) {
      setNameError("Give the key a name, e.g. what uses it.");
      return;
    }
    create.mutate(name.trim(), {
      onError: (err) => {
        if (err instanceof ApiError && err.field === "name") setNameError(describeError(err));
      },
    });
  };
  const otherError = create.isError && !(create.error instanceof ApiError && create.error.field === "name");

  return (
    <Dialog.Root open={open} onOpenChange={onOpenChange}>
      <Dialog.Portal>
        <Dialog.Overlay className="overlay" />
        <Dialog.Content
          className="dialog dialog-small"
          aria-describedby={undefined}
          onOpenAutoFocus={() => {
            openedFrom.current = document.activeElement as HTMLElement | null;
          }}
          onCloseAutoFocus={(e) => {
            e.preventDefault();
            returnFocus(openedFrom.current);
          }}
        >
          <Dialog.Title>{created ? `Key ${created.name} created` : "Create key"}</Dialog.Title>
          {created ? (
            <>
              <p className="notice" role="note">
                Copy the key now: <strong>you will not see it again.</strong> Programs send it as{" "}
                <code>Authorization: Bearer …</code>.
              </p>
              <div className="field">
                <label htmlFor="new-key-secret">Key secret</label>
                <input id="new-key-secret" ref={secretRef} className="secret" readOnly value={created.key_secret} />
              </div>
              <CopyButton text={created.key_secret} label="Copy key" />
              <div className="dialog-actions">
                <Dialog.Close className="button primary">Done</Dialog.Close>
              </div>
            </>
          ) : (
            <form onSubmit={submit} noValidate>
              <Field label="Name" error={nameError} hint="What uses it, e.g. ci or notebook; 1 to 100 characters.">
                {({ id, describedBy, invalid }) => (
                  <input
                    id={id}
                    maxLength={100}
                    value={name}
                    onChange={(e) => {
                      setName(e.target.value);
                      setNameError(undefined);
                    }}
                    aria-describedby={describedBy}
                    aria-invalid={invalid || undefined}
                  />
                )}
              </Field>
              {otherError && (
                <div role="alert" className="alert">
                  {describeError(create.error)}
                </div>
              )}
              <div className="dialog-actions">
                <Dialog.Close className="button">Cancel</Dialog.Close>
                <button type="submit" className="button primary" disabled={create.isPending}>
                  {create.isPending ? "Creating…" : "Create key"}
                </button>
              </div>
            </form>
          )}
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
}
