// Changing your own password: in a dialog from the account menu, or as a page of its own when an admin's reset left
// you a temporary password (the API then admits nothing else). The current password is checked under the sign-in
// limits; your other sessions end, and this one continues with the token the answer brings.
import { useId, useState, type FormEvent, type ReactNode } from "react";
import { useMutation } from "urql";
import { CHANGE_PASSWORD } from "../api/operations";
import { useRefreshViewer, useSession } from "../auth";
import { NO_ERRORS, fieldErrors, type FieldErrors } from "../lib/fieldErrors";
import { useFormCheck } from "../lib/useFormCheck";
import { Field, FieldDescription, FieldMessages, GeneralErrors, invalidProps } from "./FieldMessages";
import { Button } from "./ui/button";
import { Card, CardTitle } from "./ui/card";
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "./ui/dialog";
import { Input } from "./ui/input";
import { Label } from "./ui/label";

export const MIN_PASSWORD = 8;

/** The form; `onChanged` runs once the new password is set (and the session holds its new token). */
function PasswordForm({ temporary, onChanged, footer }: { temporary: boolean; onChanged: () => void; footer?: ReactNode }) {
  const id = useId();
  const fid = (name: string) => `${id}-${name}`;
  const { login } = useSession();
  const refreshViewer = useRefreshViewer();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [again, setAgain] = useState("");
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [mismatch, setMismatch] = useState(false);
  const form = useFormCheck();
  const [{ fetching }, change] = useMutation(CHANGE_PASSWORD);
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (!form.check(event)) return;
    if (next !== again) {
      setMismatch(true);
      document.getElementById(fid("again"))?.focus();
      return;
    }
    const res = await change({ currentPassword: current, newPassword: next });
    const payload = res.data?.changePassword;
    if (payload?.token) {
      login(payload.token);
      refreshViewer(); // a temporary password's restrictions end: read `me` again, with the new token
      onChanged();
      return;
    }
    const mapped = fieldErrors(payload?.errors, ["currentPassword", "newPassword"]);
    // A RATE_LIMITED refusal (too many wrong current passwords) says when to try again.
    if (!payload) mapped.general.push(res.error?.graphQLErrors[0]?.message ?? res.error?.message ?? "Could not change the password.");
    setErrors(mapped);
  };
  const againProblems = form.of(fid("again"), mismatch && next !== again ? ["The two new passwords differ."] : undefined);
  return (
    <form className="grid gap-4" noValidate onSubmit={(e) => void submit(e)} aria-label={temporary ? "Set a new password" : "Change your password"}>
      <Field>
        <Label htmlFor={fid("current")}>{temporary ? "Temporary password" : "Current password"}</Label>
        <Input
          id={fid("current")}
          type="password"
          autoComplete="current-password"
          required
          data-missing={temporary ? "Enter the temporary password you were given." : "Enter your current password."}
          value={current}
          onChange={(e) => {
            setCurrent(e.target.value);
            form.clear(fid("current"));
          }}
          {...invalidProps(`${fid("current")}-errors`, form.of(fid("current"), errors.byField.currentPassword))}
        />
        <FieldMessages id={`${fid("current")}-errors`} messages={form.of(fid("current"), errors.byField.currentPassword)} />
      </Field>
      <Field>
        <Label htmlFor={fid("new")}>New password</Label>
        <Input
          id={fid("new")}
          type="password"
          autoComplete="new-password"
          required
          minLength={MIN_PASSWORD}
          data-missing="Choose a new password."
          value={next}
          onChange={(e) => {
            setNext(e.target.value);
            form.clear(fid("new"));
          }}
          {...invalidProps(`${fid("new")}-errors`, form.of(fid("new"), errors.byField.newPassword), `${fid("new")}-hint`)}
        />
        <FieldDescription id={`${fid("new")}-hint`}>At least {MIN_PASSWORD} characters; a few words are easier to remember.</FieldDescription>
        <FieldMessages id={`${fid("new")}-errors`} messages={form.of(fid("new"), errors.byField.newPassword)} />
      </Field>
      <Field>
        <Label htmlFor={fid("again")}>New password, again</Label>
        <Input
          id={fid("again")}
          type="password"
          autoComplete="new-password"
          required
          data-missing="Type the new password once more."
          value={again}
          onChange={(e) => {
            setAgain(e.target.value);
            form.clear(fid("again"));
          }}
          {...invalidProps(`${fid("again")}-errors`, againProblems)}
        />
        <FieldMessages id={`${fid("again")}-errors`} messages={againProblems} />
      </Field>
      <GeneralErrors messages={errors.general} />
      <div className="flex flex-wrap items-center justify-end gap-2">
        {footer}
        <Button type="submit" variant="default" disabled={fetching}>
          {fetching ? "Changing…" : temporary ? "Set new password" : "Change password"}
        </Button>
      </div>
    </form>
  );
}

export function ChangePasswordDialog({ onClose }: { onClose: () => void }) {
  const [done, setDone] = useState(false);
  return (
    <Dialog open onOpenChange={(open) => !open && onClose()}>
      <DialogContent>
        <DialogHeader>
          <DialogTitle>Change your password</DialogTitle>
          <DialogDescription>
            {done
              ? "Your password is changed. Your other sessions were signed out; this one goes on."
              : "Your other sessions are signed out when it changes; this one goes on."}
          </DialogDescription>
        </DialogHeader>
        {done ? (
          <DialogFooter className="justify-end">
            <Button variant="default" onClick={onClose}>
              Done
            </Button>
          </DialogFooter>
        ) : (
          <PasswordForm temporary={false} onChanged={() => setDone(true)} footer={<Button onClick={onClose}>Cancel</Button>} />
        )}
      </DialogContent>
    </Dialog>
  );
}

/** The page a user with a temporary password (an admin's reset) sees instead of the app, until they set one. */
export function SetNewPasswordPage({ email }: { email: string }) {
  const { logout } = useSession();
  return (
    <main className="grid min-h-screen place-items-center bg-background p-4">
      <Card className="w-full max-w-md gap-4 p-6">
        <CardTitle asChild>
          <h1 className="text-lg">Set a new password</h1>
        </CardTitle>
        <p className="text-sm text-muted-foreground">
          An admin reset the password of <strong className="text-foreground">{email}</strong>. Enter the temporary password you were
          given and choose your own to continue.
        </p>
        <PasswordForm temporary onChanged={() => {}} footer={<Button onClick={logout}>Log out</Button>} />
      </Card>
    </main>
  );
}
