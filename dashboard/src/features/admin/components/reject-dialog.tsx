// Asks for the reason of a rejection (shown to the person) before rejecting an identity check.
import * as Dialog from "@radix-ui/react-dialog";
import { useEffect, useRef, useState, type FormEvent } from "react";

import { Field } from "@/components/field";
import { returnFocus } from "@/lib/return-focus";

import type { Submission } from "../api/submissions";

export function RejectDialog({
  submission,
  onConfirm,
  onClose,
}: {
  submission: Submission | null;
  onConfirm: (id: string, reason: string) => void;
  onClose: () => void;
}) {
  const [reason, setReason] = useState("");
  const openedFrom = useRef<HTMLElement | null>(null);
  useEffect(() => {
    if (submission) setReason("");
  }, [submission]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (submission) onConfirm(submission.id, reason.trim());
  };

  return (
    <Dialog.Root open={submission !== null} onOpenChange={(open) => !open && onClose()}>
      <Dialog.Portal>
        <Dialog.Overlay className="overlay" />
        <Dialog.Content
          className="dialog dialog-small"
          onOpenAutoFocus={() => {
            openedFrom.current = document.activeElement as HTMLElement | null;
          }}
          onCloseAutoFocus={(e) => {
            e.preventDefault();
            returnFocus(openedFrom.current);
          }}
        >
          <Dialog.Title>Reject the identity check of {submission?.email}?</Dialog.Title>
          <Dialog.Description className="muted">
            Their status becomes rejected; they can submit again.
          </Dialog.Description>
          <form onSubmit={submit}>
            <Field label="Reason" hint="Shown to the person; at most 500 characters.">
              {({ id, describedBy }) => (
                <textarea
                  id={id}
                  rows={3}
                  maxLength={500}
                  value={reason}
                  onChange={(e) => setReason(e.target.value)}
                  aria-describedby={describedBy}
                />
              )}
            </Field>
            <div className="dialog-actions">
              <Dialog.Close className="button">Cancel</Dialog.Close>
              <button type="submit" className="button danger">
                Reject
              </button>
            </div>
          </form>
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
}
