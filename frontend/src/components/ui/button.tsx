import { Slot } from "@radix-ui/react-slot";
import { cva, type VariantProps } from "class-variance-authority";
import type { ComponentProps } from "react";
import { cn } from "../../lib/utils";

const buttonVariants = cva(
  "inline-flex shrink-0 cursor-pointer items-center justify-center gap-2 rounded-md text-sm font-medium whitespace-nowrap transition-[color,background-color,box-shadow] outline-none focus-visible:ring-[3px] focus-visible:ring-ring disabled:cursor-not-allowed disabled:opacity-50",
  {
    variants: {
      variant: {
        default: "bg-primary text-primary-foreground shadow-xs hover:bg-primary/90",
        destructive: "bg-destructive text-destructive-foreground shadow-xs hover:bg-destructive/90",
        /** A destructive action among others (a row's Delete): red text and border, not a solid block. */
        "destructive-outline": "border border-destructive/60 bg-card text-destructive shadow-xs hover:bg-destructive/10",
        outline: "border bg-card shadow-xs hover:bg-accent hover:text-accent-foreground",
        /** Quiet: no border or fill until hovered (lists of choices, icon buttons in a bar). */
        ghost: "hover:bg-accent hover:text-accent-foreground",
      },
      size: {
        default: "h-9 px-4 py-2",
        sm: "h-8 gap-1.5 px-3",
        xs: "h-7 gap-1 px-2 text-xs",
      },
    },
    defaultVariants: { variant: "outline", size: "sm" },
  },
);

export type ButtonProps = ComponentProps<"button"> & VariantProps<typeof buttonVariants> & { asChild?: boolean };

export function Button({ className, variant, size, asChild = false, type, ...props }: ButtonProps) {
  const Comp = asChild ? Slot : "button";
  return (
    <Comp
      data-slot="button"
      className={cn(buttonVariants({ variant, size, className }))}
      // A button in a form submits only when it says so.
      type={asChild ? undefined : (type ?? "button")}
      {...props}
    />
  );
}
