import type { ComponentProps } from "react";
import { cn } from "../../lib/utils";

/** The field look shared by Input, Textarea and NativeSelect. */
export const fieldClasses =
  "w-full min-w-0 rounded-md border border-input bg-card px-2.5 text-sm shadow-xs transition-[color,box-shadow] outline-none placeholder:text-muted-foreground/70 focus-visible:border-ring focus-visible:ring-[3px] focus-visible:ring-ring/60 disabled:cursor-not-allowed disabled:opacity-50 read-only:bg-muted/40 aria-invalid:border-destructive aria-invalid:ring-destructive/20";

export function Input({ className, type, ...props }: ComponentProps<"input">) {
  return <input type={type} data-slot="input" className={cn(fieldClasses, "h-8 py-1", className)} {...props} />;
}
