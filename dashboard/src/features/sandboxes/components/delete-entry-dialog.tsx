import * as AlertDialog from "@radix-ui/react-alert-dialog";
import { useRef } from "react";

import { returnFocus } from "@/lib/return-focus";

import { baseName, type FileInfo } from "../lib/files";

/** Asks before a file, or a folder with everything in it, is deleted from a sandbox. */
export function DeleteEntryDialog({
  entry,
  onConfirm,
  onClose,
}: {
  entry: FileInfo | null;
  onConfirm: (entry: FileInfo) => void;
  onClose: () => void;
}) {
  const openedFrom = useRef<HTMLElement | null>(null);
  const folder = entry?.type === "directory";
  return (
    <AlertDialog.Root open={entry !== null} onOpenChange={(open) => !open && onClose()}>
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
          <AlertDialog.Title>{`Delete ${folder ? "folder " : ""}${entry ? baseName(entry.path) : ""}?`}</AlertDialog.Title>
          <AlertDialog.Description>
            {folder ? (
              <>
                The folder <code>{entry?.path}</code> and everything in it are deleted for good.
              </>
            ) : (
              <>
                <code>{entry?.path}</code> is deleted for good.
              </>
            )}
          </AlertDialog.Description>
          <div className="dialog-actions">
            <AlertDialog.Cancel className="button">Cancel</AlertDialog.Cancel>
            <AlertDialog.Action className="button danger" onClick={() => entry && onConfirm(entry)}>
              Delete
            </AlertDialog.Action>
          </div>
        </AlertDialog.Content>
      </AlertDialog.Portal>
    </AlertDialog.Root>
  );
}
