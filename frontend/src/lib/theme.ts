// Light, dark, or the system's: the choice is kept in localStorage and put on <html> as a class (`light` or `dark`);
// with none, the CSS follows prefers-color-scheme by itself (its colours are light-dark() pairs), so the page never
// flashes the wrong theme before the script runs.
import { useCallback, useEffect, useState } from "react";

export type ThemeChoice = "system" | "light" | "dark";
export const THEME_KEY = "studio.theme";

export function storedTheme(): ThemeChoice {
  const saved = typeof localStorage !== "undefined" ? localStorage.getItem(THEME_KEY) : null;
  return saved === "light" || saved === "dark" ? saved : "system";
}

export function applyTheme(choice: ThemeChoice, root: HTMLElement = document.documentElement): void {
  root.classList.toggle("light", choice === "light");
  root.classList.toggle("dark", choice === "dark");
}

const systemDark = () => typeof window !== "undefined" && !!window.matchMedia?.("(prefers-color-scheme: dark)").matches;

/** The theme chosen, the one in effect ("system" resolved), and how to choose. */
export function useTheme() {
  const [choice, setChoice] = useState<ThemeChoice>(storedTheme);
  const [prefersDark, setPrefersDark] = useState(systemDark);
  useEffect(() => {
    const query = window.matchMedia?.("(prefers-color-scheme: dark)");
    if (!query) return;
    const onChange = () => setPrefersDark(query.matches);
    query.addEventListener("change", onChange);
    return () => query.removeEventListener("change", onChange);
  }, []);
  const choose = useCallback((next: ThemeChoice) => {
    if (next === "system") localStorage.removeItem(THEME_KEY);
    else localStorage.setItem(THEME_KEY, next);
    applyTheme(next);
    setChoice(next);
  }, []);
  const effective: "light" | "dark" = choice === "system" ? (prefersDark ? "dark" : "light") : choice;
  return { choice, effective, choose };
}
