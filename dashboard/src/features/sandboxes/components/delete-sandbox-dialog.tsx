import * as AlertDialog from "@radix-ui/react-alert-dialog";
import { useRef } from "react";

import { returnFocus } from "@/lib/return-focus";

import { shortId } from "../lib/format";

/** Asks before a sandbox is terminated: its files and state are gone for good. */
export function DeleteSandboxDialog({
  sandboxId,
  onConfirm,
  onClose,
}: {
  sandboxId: string | null;
  onConfirm: (id: string) => void;
  onClose: () => void;
}) {
  const openedFrom = useRef<HTMLElement | null>(null);
  return (
    <AlertDialog.Root open={sandboxId !== null} onOpenChange={(open) => !open && onClose()}>
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
          <AlertDialog.Title>Delete sandbox {sandboxId ? shortId(sandboxId) : ""}?</AlertDialog.Title>
          <AlertDialog.Description>
            The sandbox is terminated at once: its processes, memory and files under /workspace
            are gone and cannot be brought back.
          </AlertDialog.Description>
          <div className="dialog-actions">
            <AlertDialog.Cancel className="button">Cancel</AlertDialog.Cancel>
            <AlertDialog.Action
              className="button danger"
              onClick={() => {
                if (sandboxId) onConfirm(sandboxId);
              }}
            >
              Delete
            </AlertDialog.Action>
          </div>
        </AlertDialog.Content>
      </AlertDialog.Portal>
    </AlertDialog.Root>
  );
}
