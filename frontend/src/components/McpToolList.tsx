// The tools an agent's MCP servers offer, shown under the agent's settings: what the model will be offered (the
// server's list, narrowed by the entry's `allow`, named server__tool). The API lists them (mcpTools) the way the step
// will, through the egress policy and with the entry's credential, and keeps the list for 5 minutes; a server it
// cannot reach is a warning here, not an error: the step lists the tools again when it starts.
import { useEffect, useState } from "react";
import { useQuery } from "urql";
import { MCP_TOOLS } from "../api/operations";
import { ProblemList } from "./Inspector";
import { Button } from "./ui/button";

export interface McpEntry {
  server: string;
  url: string | null;
  credential: string | null;
  allow: string[] | null;
}

const text = (value: unknown): string | null => (typeof value === "string" && value.trim() ? value.trim() : null);

/** The MCP entries of an agent's `tools` (entries of other kinds, and ones without a server, are left out). */
export function mcpEntries(config: Record<string, unknown>): McpEntry[] {
  const tools = Array.isArray(config.tools) ? config.tools : [];
  const entries: McpEntry[] = [];
  for (const tool of tools) {
    if (!tool || typeof tool !== "object") continue;
    const entry = tool as Record<string, unknown>;
    const server = text(entry.server);
    if (entry.kind !== "mcp" || !server) continue;
    const allow = Array.isArray(entry.allow) ? entry.allow.filter((a): a is string => typeof a === "string") : null;
    entries.push({ server, url: text(entry.url), credential: text(entry.credential), allow });
  }
  return entries;
}

/** ``value`` once it has stayed the same for ``ms``: a URL typed into the tools' JSON is not listed letter by letter. */
function useSettled<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

export function McpToolLists({ config, editable, settleMs = 600 }: { config: Record<string, unknown>; editable: boolean; settleMs?: number }) {
  const key = JSON.stringify(mcpEntries(config));
  const settled = useSettled(key, settleMs);
  const entries = JSON.parse(settled) as McpEntry[];
  if (!entries.length || !editable) return null; // listing needs workflow:write, as editing the agent does
  return (
    <section aria-label="MCP tools" className="grid gap-2">
      <h3>MCP tools</h3>
      {entries.map((entry, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: the entries' order is the tools' order; two may name one server
        <McpServerTools key={`${i}:${entry.server}`} entry={entry} />
      ))}
    </section>
  );
}

function McpServerTools({ entry }: { entry: McpEntry }) {
  const [{ data, fetching, error }, refetch] = useQuery({ query: MCP_TOOLS, variables: entry, requestPolicy: "cache-and-network" });
  const answer = data?.mcpTools;
  const problems = [...(answer?.errors ?? []), ...(error ? [{ message: `Could not list the tools: ${error.message}` }] : [])];
  return (
    <div className="grid gap-1 rounded-md border p-2 text-sm" data-testid="mcp-server">
      <div className="flex items-center gap-2">
        <span className="font-medium">{entry.server}</span>
        {entry.url ? <span className="truncate text-xs text-muted-foreground">{entry.url}</span> : null}
        <Button variant="outline" size="sm" className="ml-auto" disabled={fetching} onClick={() => refetch({ requestPolicy: "network-only" })}>
          {fetching ? "Listing…" : "Refresh"}
        </Button>
      </div>
      <ProblemList items={problems} label={`Problems listing ${entry.server}'s tools`} warning />
      {answer && !answer.tools.length && !problems.length ? <p className="text-muted-foreground">This server offers no tools (after allow).</p> : null}
      {answer?.tools.length ? (
        <ul className="grid gap-1" aria-label={`Tools of ${entry.server}`}>
          {answer.tools.map((tool) => (
            <li key={tool.name}>
              <code>{tool.name}</code>
              {tool.idempotent ? <span className="ml-2 text-xs text-muted-foreground">idempotent</span> : null}
              {tool.description ? <p className="text-xs text-muted-foreground">{tool.description}</p> : null}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
