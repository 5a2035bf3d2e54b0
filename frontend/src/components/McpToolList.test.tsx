// An agent's MCP servers list their tools under its settings: the server's list as the step will see it, a server
// that cannot be reached as a warning, a refresh on demand, and nothing for someone who cannot edit the agent.
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { Provider } from "urql";
import { afterEach, describe, expect, it } from "vitest";
import { mockClient } from "../test/mockGraphQL";
import { mcpEntries, McpToolLists } from "./McpToolList";

afterEach(cleanup);

const CONFIG = {
  model: "m",
  tools: [
    { kind: "http", name: "lookup" },
    { kind: "mcp", server: "calc", allow: ["add"] },
    { kind: "mcp", server: "docs", url: "https://mcp.example.org/mcp", credential: "docs-token" },
    { kind: "mcp", server: "  " },
  ],
};

function setup(config: Record<string, unknown>, editable = true) {
  const api = mockClient({
    McpTools: (v) =>
      v.server === "calc"
        ? { mcpTools: { tools: [{ name: "calc__add", tool: "add", description: "Adds two numbers.", idempotent: true }], errors: [] } }
        : {
            mcpTools: {
              tools: [],
              errors: [{ path: ["url"], message: "could not list the tools of docs: connection refused", code: "UNREACHABLE", severity: "WARNING" }],
            },
          },
  });
  render(
    <Provider value={api.client}>
      <McpToolLists config={config} editable={editable} settleMs={0} />
    </Provider>,
  );
  return api;
}

describe("MCP tools in the inspector", () => {
  it("reads the MCP entries of the tools, leaving other kinds and empty servers out", () => {
    expect(mcpEntries(CONFIG)).toEqual([
      { server: "calc", url: null, credential: null, allow: ["add"] },
      { server: "docs", url: "https://mcp.example.org/mcp", credential: "docs-token", allow: null },
    ]);
    expect(mcpEntries({ tools: "not a list" })).toEqual([]);
  });

  it("lists each server's tools as the model will see them, and an unreachable server as a warning", async () => {
    const api = setup(CONFIG);
    const calc = await screen.findByRole("list", { name: "Tools of calc" });
    expect(within(calc).getByText("calc__add")).toBeTruthy();
    expect(within(calc).getByText("Adds two numbers.")).toBeTruthy();
    expect(await screen.findByText(/could not list the tools of docs: connection refused/)).toBeTruthy();
    expect(api.named("McpTools").map((c) => c.variables)).toEqual([
      { server: "calc", url: null, credential: null, allow: ["add"] },
      { server: "docs", url: "https://mcp.example.org/mcp", credential: "docs-token", allow: null },
    ]);
  });

  it("asks the server again on Refresh", async () => {
    const api = setup({ tools: [{ kind: "mcp", server: "calc" }] });
    await screen.findByText("calc__add");
    fireEvent.click(screen.getByRole("button", { name: "Refresh" }));
    await waitFor(() => expect(api.named("McpTools")).toHaveLength(2));
  });

  it("shows nothing, and asks nothing, to someone who cannot edit the agent or for an agent without MCP tools", async () => {
    const api = setup(CONFIG, false);
    cleanup();
    const other = setup({ tools: [{ kind: "http", name: "lookup" }] });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(screen.queryByRole("region", { name: "MCP tools" })).toBeNull();
    expect(api.named("McpTools")).toHaveLength(0);
    expect(other.named("McpTools")).toHaveLength(0);
  });
});
