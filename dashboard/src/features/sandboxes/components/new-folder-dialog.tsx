// New folder: asks for a name and makes it in the folder shown (`POST …/directories/{path}`).
import * as Dialog from "@radix-ui/react-dialog";
import { useEffect, useRef, useState, type FormEvent } from "react";

import { ApiError, describeError } from "@/api/problem";
import { Field } from "@/components/field";
import { returnFocus } from "@/lib/return-focus";

import { useMakeDirectory } from "../api/files";
import { folderNameProblem, joinPath } from "../lib/files";

/** What the server says about the name itself, shown next to the field rather than below. */
function aboutTheName(e: unknown): boolean {
  return e instanceof ApiError && (e.field === "path" || e.code === "invalid_path" || e.code === "path_conflict");
}

export function NewFolderDialog({
  sandboxId,
  dir,
  open,
  onOpenChange,
  onMade,
}: {
  sandboxId: string;
  dir: string;
  open: boolean;
  onOpenChange: (open: boolean) => void;
  onMade: (name: string) => void;
}) {
  const [name, setName] = useState("");
  const [nameError, setNameError] = useState<string | undefined>();
  const make = useMakeDirectory(sandboxId);
  const openedFrom = useRef<HTMLElement | null>(null);
  const input = useRef<HTMLInputElement>(null);

  useEffect(() => {
    if (open) {
      setName("");
      setNameError(undefined);
      make.reset();
    }
  }, [open]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const problem = folderNameProblem(name);
    if (problem) {
      setNameError(problem);
      input.current?.focus();
      return;
    }
    make.mutate(joinPath(dir, name), {
      onSuccess: () => {
        onMade(name);
        onOpenChange(false);
      },
      onError: (err) => {
        if (aboutTheName(err)) {
          setNameError(describeError(err));
          input.current?.focus();
        }
      },
    });
  };
  const otherError = make.isError && !aboutTheName(make.error);

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
          <Dialog.Title>New folder</Dialog.Title>
          <form onSubmit={submit} noValidate>
            <Field
              label="Folder name"
              error={nameError}
              hint={
                <>
                  Made in <code>{dir}</code>.
                </>
              }
            >
              {({ id, describedBy, invalid }) => (
                <input
                  ref={input}
                  id={id}
                  value={name}
                  autoComplete="off"
                  spellCheck={false}
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
                {describeError(make.error)}
              </div>
            )}
            <div className="dialog-actions">
              <Dialog.Close className="button">Cancel</Dialog.Close>
              <button type="submit" className="button primary" disabled={make.isPending}>
                {make.isPending ? "Creating…" : "Create folder"}
              </button>
            </div>
          </form>
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
}
