// The header's right side: the theme (a toggle, and a choice of light, dark or the system's in the menu) and the
// account menu: who you are, where (workspace name and slug), your role; change your password; log out.
import * as Menu from "@radix-ui/react-dropdown-menu";
import { useState } from "react";
import { useSession, useViewer } from "../auth";
import { useTheme, type ThemeChoice } from "../lib/theme";
import { ChangePasswordDialog } from "./ChangePassword";
import { Button } from "./ui/button";
import { Icon } from "./ui/icon";

const itemClass =
  "flex cursor-pointer items-center gap-2 rounded-sm px-2 py-1.5 text-sm outline-none select-none data-[highlighted]:bg-accent data-[highlighted]:text-accent-foreground";

export function ThemeToggle() {
  const { effective, choose } = useTheme();
  const next = effective === "dark" ? "light" : "dark";
  return (
    <Button variant="ghost" className="px-2" aria-label={`Switch to the ${next} theme`} title={`Switch to the ${next} theme`} onClick={() => choose(next)}>
      <Icon name={effective === "dark" ? "sun" : "moon"} />
    </Button>
  );
}

export function AccountMenu() {
  const { logout } = useSession();
  const viewer = useViewer();
  const { choice, choose } = useTheme();
  const [changing, setChanging] = useState(false);
  const who = viewer.user?.email ?? "API key";
  return (
    <>
      <Menu.Root modal={false}>
        <Menu.Trigger asChild>
          <Button variant="ghost" className="max-w-64 gap-1.5 px-2" aria-label={`Account: ${who}`}>
            <Icon name="circleUser" />
            <span className="truncate">{who}</span>
            <Icon name="chevronDown" className="size-3.5 text-muted-foreground" />
          </Button>
        </Menu.Trigger>
        {/* In place, not in a portal: the menu stays inside the header's landmark. */}
        <Menu.Content
            align="end"
            sideOffset={6}
            className="z-50 min-w-64 rounded-lg border bg-popover p-1 text-popover-foreground shadow-lg"
          >
            <div className="grid gap-0.5 px-2 py-1.5">
              <span className="truncate text-sm font-medium" title={who}>
                {who}
              </span>
              <span className="text-xs text-muted-foreground">
                {viewer.tenant.name} · workspace <span className="font-mono">{viewer.tenant.slug}</span> · {viewer.role.toLowerCase()}
              </span>
            </div>
            <Menu.Separator className="my-1 h-px bg-border" />
            {viewer.user ? (
              <Menu.Item className={itemClass} onSelect={() => setChanging(true)}>
                <Icon name="lock" />
                Change password
              </Menu.Item>
            ) : null}
            <Menu.Label className="px-2 pt-1.5 pb-0.5 text-xs text-muted-foreground">Theme</Menu.Label>
            <Menu.RadioGroup value={choice} onValueChange={(v) => choose(v as ThemeChoice)}>
              {(
                [
                  ["system", "System", "monitor"],
                  ["light", "Light", "sun"],
                  ["dark", "Dark", "moon"],
                ] as const
              ).map(([value, label, icon]) => (
                <Menu.RadioItem key={value} value={value} className={itemClass}>
                  <Icon name={icon} />
                  {label}
                  <Menu.ItemIndicator className="ml-auto">
                    <Icon name="check" />
                  </Menu.ItemIndicator>
                </Menu.RadioItem>
              ))}
            </Menu.RadioGroup>
            <Menu.Separator className="my-1 h-px bg-border" />
            <Menu.Item className={itemClass} onSelect={logout}>
              <Icon name="logOut" />
              Log out
            </Menu.Item>
        </Menu.Content>
      </Menu.Root>
      {changing ? <ChangePasswordDialog onClose={() => setChanging(false)} /> : null}
    </>
  );
}
