/**
 * Puts the focus back where a dialog was opened from; when that control is gone or now
 * disabled (a deleted row's Delete), on the page's main region instead of nowhere.
 */
export function returnFocus(from: HTMLElement | null) {
  if (from && from.isConnected && !(from as HTMLButtonElement).disabled) {
    from.focus();
    return;
  }
  document.getElementById("main")?.focus();
}
