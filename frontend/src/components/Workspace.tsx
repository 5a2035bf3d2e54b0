// The builder's and the run monitor's frame: a toolbar over the canvas between side panels.
import type { ComponentProps, ReactNode } from "react";
import { cn } from "../lib/utils";
import { Alert } from "./ui/alert";

/** The page's main landmark: its toolbar, then the canvas between panels, filling the window below the header. */
export function Workspace({ className, ...props }: ComponentProps<"main">) {
  return <main className={cn("flex h-[calc(100vh-3rem)] flex-col", className)} {...props} />;
}

/** A page's bar of actions: one row while it fits (the title shrinks first, truncated), wrapping only below that. */
export function Toolbar({ className, ...props }: ComponentProps<"header">) {
  return <header className={cn("flex flex-wrap items-center gap-2 border-b bg-card px-3 py-2", className)} {...props} />;
}

/** The toolbar's title: "Workflows / name". */
export function ToolbarTitle({ className, ...props }: ComponentProps<"h1">) {
  return <h1 className={cn("mr-auto min-w-0 text-base", className)} {...props} />;
}

/** The right-hand panel (the e2e test finds it by its `inspector` class). */
export const SIDE_PANEL = "inspector flex w-[340px] shrink-0 flex-col gap-3 overflow-auto border-l bg-card p-3";

/** A page that could not show what it is for (no such workflow, the server refused). */
export function PageProblem({ children }: { children: ReactNode }) {
  return (
    <div className="px-6 py-4">
      <Alert variant="destructive">{children}</Alert>
    </div>
  );
}
