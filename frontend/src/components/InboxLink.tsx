// The navigation's "Approvals" link with the number of open tasks the viewer may decide, live (lib/taskFeed.tsx).
import { NavLink, type NavLinkProps } from "react-router-dom";
import { countLabel, useTaskFeed } from "../lib/taskFeed";

export function InboxLink({ className }: { className?: NavLinkProps["className"] }) {
  const { openCount } = useTaskFeed();
  return (
    <NavLink className={className} to="/inbox" aria-label={openCount ? `Approvals, ${openCount} open` : "Approvals"} data-testid="nav-inbox">
      Approvals
      {openCount ? (
        <span
          className="ml-1.5 inline-flex min-w-5 items-center justify-center rounded-full bg-primary px-1.5 text-xs font-semibold text-primary-foreground"
          data-testid="inbox-count"
          aria-hidden="true"
        >
          {countLabel(openCount)}
        </span>
      ) : null}
    </NavLink>
  );
}
