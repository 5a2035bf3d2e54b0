import { cva, type VariantProps } from "class-variance-authority";
import type { ComponentProps } from "react";
import { cn } from "../../lib/utils";

const alertVariants = cva("relative w-full rounded-lg border px-3 py-2 text-sm [&_p]:my-0", {
  variants: {
    variant: {
      default: "bg-card text-card-foreground",
      destructive: "border-destructive/40 bg-destructive/5 text-destructive",
      warning: "border-warning/40 bg-warning/5 text-warning",
    },
  },
  defaultVariants: { variant: "default" },
});

/** A message box; `role` says how it is announced ("alert" for problems, "status" or "note" otherwise). */
export function Alert({ className, variant, role = "alert", ...props }: ComponentProps<"div"> & VariantProps<typeof alertVariants>) {
  return <div data-slot="alert" role={role} className={cn(alertVariants({ variant }), className)} {...props} />;
}
