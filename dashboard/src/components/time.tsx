/** An ISO time as a `<time>`, in the reader's locale; `—` for none. */
export function Time({ at }: { at: string | null | undefined }) {
  if (!at) return <>—</>;
  return <time dateTime={at}>{new Date(at).toLocaleString()}</time>;
}
