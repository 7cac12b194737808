import * as AlertDialog from "@radix-ui/react-alert-dialog";
import { useRef } from "react";

import { returnFocus } from "@/lib/return-focus";

import type { ApiKey } from "../api/keys";

/** Asks before a key is revoked: programs using it are refused from then on. */
export function RevokeKeyDialog({
  apiKey,
  onConfirm,
  onClose,
}: {
  apiKey: ApiKey | null;
  onConfirm: (id: string) => void;
  onClose: () => void;
}) {
  const openedFrom = useRef<HTMLElement | null>(null);
  return (
    <AlertDialog.Root open={apiKey !== null} onOpenChange={(open) => !open && onClose()}>
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
          <AlertDialog.Title>Revoke key {apiKey?.name}?</AlertDialog.Title>
          <AlertDialog.Description>
            Every program using it ({apiKey?.prefix}…) is refused at once. A revoked key cannot be restored.
          </AlertDialog.Description>
          <div className="dialog-actions">
            <AlertDialog.Cancel className="button">Cancel</AlertDialog.Cancel>
            <AlertDialog.Action className="button danger" onClick={() => apiKey && onConfirm(apiKey.id)}>
              Revoke
            </AlertDialog.Action>
          </div>
        </AlertDialog.Content>
      </AlertDialog.Portal>
    </AlertDialog.Root>
  );
}
