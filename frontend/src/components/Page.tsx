// The frame every page uses, so they read alike: a page header (title, what the page is for, actions), and the
// three states a list can be in besides full: loading (placeholder rows with a status for screen readers), empty
// (what would be here and how to make the first one), and failed (in PageProblem, Workspace.tsx).
import type { ComponentProps, ReactNode } from "react";
import { cn } from "../lib/utils";
import { Icon, type IconName } from "./ui/icon";

/** A page's main area: the page's width and spacing. */
export function Page({ className, ...props }: ComponentProps<"main">) {
  return <main className={cn("mx-auto flex w-full max-w-6xl flex-col gap-5 px-6 py-6", className)} {...props} />;
}

export function PageHeader({ title, description, actions }: { title: ReactNode; description?: ReactNode; actions?: ReactNode }) {
  return (
    <header className="flex flex-wrap items-end justify-between gap-x-6 gap-y-3">
      <div className="grid min-w-0 gap-1">
        <h1 className="truncate text-xl">{title}</h1>
        {description ? <p className="text-sm text-muted-foreground">{description}</p> : null}
      </div>
      {actions ? <div className="flex flex-wrap items-center gap-2">{actions}</div> : null}
    </header>
  );
}

/** Nothing to show yet: what would be here, and how to make the first one. */
export function EmptyState({
  icon = "inbox",
  title,
  children,
  action,
  className,
}: {
  icon?: IconName;
  title: string;
  children?: ReactNode;
  action?: ReactNode;
  className?: string;
}) {
  return (
    <div className={cn("flex flex-col items-center gap-2 rounded-lg border border-dashed bg-card px-6 py-10 text-center", className)}>
      <span className="grid size-10 place-items-center rounded-full bg-muted text-muted-foreground">
        <Icon name={icon} className="size-5" />
      </span>
      <h2 className="text-base">{title}</h2>
      {children ? <div className="max-w-md text-sm text-muted-foreground">{children}</div> : null}
      {action ? <div className="mt-2">{action}</div> : null}
    </div>
  );
}

/** Placeholder rows while a list loads; announced once as `label`. */
export function LoadingState({ label = "Loading…", rows = 3, className }: { label?: string; rows?: number; className?: string }) {
  return (
    <div className={cn("grid gap-2", className)} role="status" aria-live="polite">
      <span className="sr-only">{label}</span>
      {Array.from({ length: rows }, (_, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: placeholders without identity or state
        <div key={i} aria-hidden="true" className="h-10 animate-pulse rounded-md bg-muted" style={{ opacity: 1 - i * 0.2 }} />
      ))}
    </div>
  );
}

/** A short wait inside a panel or the whole screen: a spinner and what is loading. */
export function Spinner({ label, className }: { label: string; className?: string }) {
  return (
    <p className={cn("flex items-center gap-2 text-sm text-muted-foreground", className)} role="status">
      <Icon name="loaderCircle" className="animate-spin" />
      {label}
    </p>
  );
}
