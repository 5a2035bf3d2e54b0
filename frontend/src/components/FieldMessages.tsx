// Problems under a form field, tied to the input by aria-describedby.
export function FieldMessages({ id, messages }: { id: string; messages: readonly string[] | undefined }) {
  if (!messages?.length) return null;
  return (
    <div id={id} className="field-errors">
      {messages.map((m, i) => (
        <p key={i} className="field-error">
          {m}
        </p>
      ))}
    </div>
  );
}

/** aria-invalid and aria-describedby for an input with problems (and an optional hint). */
export function invalidProps(errorId: string, messages: readonly string[] | undefined, hintId?: string) {
  const bad = !!messages?.length;
  const describedBy = [hintId, bad ? errorId : undefined].filter(Boolean).join(" ");
  return { "aria-invalid": bad || undefined, "aria-describedby": describedBy || undefined } as const;
}

export function GeneralErrors({ messages }: { messages: readonly string[] }) {
  if (!messages.length) return null;
  return (
    <div className="error" role="alert">
      {messages.map((m, i) => (
        <p key={i}>{m}</p>
      ))}
    </div>
  );
}
