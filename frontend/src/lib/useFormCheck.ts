// The hook side of lib/formCheck.ts: call `check(event)` first thing in a submit handler; it returns false (and
// shows the problems) when the form is not ready to send. A control's problems clear as soon as it is edited.
import { useCallback, useState, type FormEvent } from "react";
import { checkForm, type ControlProblems } from "./formCheck";

export function useFormCheck() {
  const [problems, setProblems] = useState<ControlProblems>({});
  const check = useCallback((event: FormEvent<HTMLFormElement>) => {
    const found = checkForm(event.currentTarget);
    setProblems(found);
    return Object.keys(found).length === 0;
  }, []);
  /** The problems of the control `id`, with `more` (the server's) after them. */
  const of = useCallback(
    (id: string, more?: readonly string[]): string[] | undefined => {
      const all = [...(problems[id] ?? []), ...(more ?? [])];
      return all.length ? all : undefined;
    },
    [problems],
  );
  const clear = useCallback((id: string) => setProblems(({ [id]: _, ...rest }) => rest), []);
  return { check, of, clear };
}
