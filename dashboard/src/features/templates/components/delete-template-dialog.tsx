import * as AlertDialog from "@radix-ui/react-alert-dialog";
import { useRef } from "react";

import { returnFocus } from "@/lib/return-focus";

/** Asks before a template is deleted: every version of it, and their logs. */
export function DeleteTemplateDialog({
  name,
  onConfirm,
  onClose,
}: {
  name: string | null;
  onConfirm: (name: string) => void;
  onClose: () => void;
}) {
  const openedFrom = useRef<HTMLElement | null>(null);
  return (
    <AlertDialog.Root open={name !== null} onOpenChange={(open) => !open && onClose()}>
      <AlertDialog.Portal>
        <AlertDialog.Overlay className="overlay" />
        <AlertDialog.Content
          className="dialog dialog-small"
          onOpenAutoFocus={() => {
            openedFrom.current = document.activeElement as HTMLElement | null;
          }}
          onCloseAutoFocus={(e) => {
            e.preventDefault();
            returnFocus(openedFrom.current);
          }}
        >
          <AlertDialog.Title>Delete template {name}?</AlertDialog.Title>
          <AlertDialog.Description>
            Every version of it is deleted, with their build logs. Sandboxes running it keep
            running; new ones cannot start from it.
          </AlertDialog.Description>
          <div className="dialog-actions">
            <AlertDialog.Cancel className="button">Cancel</AlertDialog.Cancel>
            <AlertDialog.Action className="button danger" onClick={() => name && onConfirm(name)}>
              Delete
            </AlertDialog.Action>
          </div>
        </AlertDialog.Content>
      </AlertDialog.Portal>
    </AlertDialog.Root>
  );
}
