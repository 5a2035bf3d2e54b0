// The builder's keyboard shortcuts on the window: undo, redo, copy, paste and save (lib/shortcuts.ts says which key is
// which). Text fields keep their own keys but save; so does a dialog, and a text selection keeps Ctrl+C.
import { useEffect, useRef } from "react";
import { commandFor, isTextTarget, type BuilderCommand } from "../lib/shortcuts";

/** Each command returns whether it did something: only then is the key's default prevented. */
export type Commands = Record<BuilderCommand, () => boolean>;

export function useShortcuts(enabled: boolean, commands: Commands) {
  // The listener stays while `enabled`; it calls the commands of the latest render.
  const latest = useRef(commands);
  latest.current = commands;
  useEffect(() => {
    if (!enabled) return;
    const onKey = (e: KeyboardEvent) => {
      const command = commandFor(e);
      if (!command || e.defaultPrevented || (command !== "save" && isTextTarget(e.target))) return;
      if (document.querySelector('[aria-modal="true"]')) return;
      if (command === "copy" && window.getSelection()?.toString()) return;
      if (latest.current[command]()) e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [enabled]);
}
