// Forms say what is wrong instead of doing nothing: they are `noValidate` (no browser bubble, which some contexts
// never show), and on submit every control that breaks its own constraints (required, type="email", minLength…)
// gets a message under it, aria-invalid, and the first one the focus. Each message can be given on the control
// (`data-missing`, `data-invalid`); else a plain one is written from what is wrong.

export type ControlProblems = Record<string, string[]>;

type Control = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

const isControl = (el: Element): el is Control =>
  el instanceof HTMLInputElement || el instanceof HTMLSelectElement || el instanceof HTMLTextAreaElement;

/** What is wrong with one control, in words (empty: nothing). */
export function controlProblems(el: Control): string[] {
  // minlength is checked here: browsers check it only for values typed by hand (a pasted or filled one passes).
  const min = "minLength" in el ? el.minLength : -1;
  const short = min > 0 && el.value.length > 0 && el.value.length < min;
  const v = el.validity;
  if (v.valid && !short) return [];
  if (v.valueMissing) return [el.dataset.missing ?? "Fill this in: it is required."];
  if (el.dataset.invalid) return [el.dataset.invalid];
  if (v.typeMismatch && el.type === "email") return ["Enter an email address such as ada@example.org."];
  if (v.typeMismatch && el.type === "url") return ["Enter a full address such as https://example.org."];
  if (short || v.tooShort) return [`Use at least ${min} characters (${el.value.length} now).`];
  if (v.tooLong && "maxLength" in el) return [`Use at most ${el.maxLength} characters.`];
  if (v.patternMismatch) return [el.title || "This does not have the expected form."];
  return [el.validationMessage || "This value is not accepted."];
}

/** Every control of `form` with a problem, by its id; the first such control gets the focus. */
export function checkForm(form: HTMLFormElement): ControlProblems {
  const out: ControlProblems = {};
  let first: Control | null = null;
  for (const el of Array.from(form.elements)) {
    if (!isControl(el) || el.disabled || !el.id) continue;
    const problems = controlProblems(el);
    if (problems.length) {
      out[el.id] = problems;
      first ??= el;
    }
  }
  first?.focus();
  return out;
}
