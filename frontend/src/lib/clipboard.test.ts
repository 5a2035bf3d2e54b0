import { describe, expect, it } from "vitest";
import { copyId, copyNodes, pasteClip, renameRefsInText } from "./clipboard";
import { NODE_ID_PATTERN, type Definition } from "./definition";

const def: Definition = {
  nodes: [
    { id: "start", type: "trigger.manual", config: {}, position: { x: 0, y: 0 } },
    { id: "fetch", type: "http.request", config: { url: "https://x.org/{{ input.id }}" }, position: { x: 200, y: 0 } },
    {
      id: "shape",
      type: "transform",
      config: { value: { name: "{{ steps.fetch.output.body.name }}", raw: "{{ steps['fetch'].output }}", s: "{{ steps.start.output }}" } },
      label: "Shape",
      position: { x: 400, y: 0 },
    },
    { id: "check-2", type: "condition", config: { expression: "{{ steps.shape.output.ok }}" }, position: { x: 600, y: 0 } },
  ],
  edges: [
    { source: "start", target: "fetch" },
    { source: "fetch", target: "shape", id: "e1" },
    { source: "shape", target: "check-2" },
  ],
};

describe("copy and paste of nodes", () => {
  it("copies the selected nodes and only the edges between them", () => {
    const clip = copyNodes(def, ["fetch", "shape"])!;
    expect(clip.nodes.map((n) => n.id)).toEqual(["fetch", "shape"]);
    expect(clip.edges).toEqual([{ source: "fetch", target: "shape", id: "e1" }]);
    expect(copyNodes(def, [])).toBeNull();
    // The clip is a copy: editing the graph afterwards does not change it.
    (def.nodes[1]!.config as Record<string, unknown>).url = "changed";
    expect(clip.nodes[0]!.config!.url).toBe("https://x.org/{{ input.id }}");
    (def.nodes[1]!.config as Record<string, unknown>).url = "https://x.org/{{ input.id }}";
  });

  it("pastes with fresh ids, offset positions, and references rewritten within the pasted set", () => {
    const clip = copyNodes(def, ["fetch", "shape"])!;
    const taken = def.nodes.map((n) => n.id);
    const out = pasteClip(clip, taken, { x: 40, y: 40 });
    expect(out.nodes.map((n) => n.id)).toEqual(["fetch_1", "shape_1"]);
    expect(out.nodes[0]!.position).toEqual({ x: 240, y: 40 });
    expect(out.nodes[1]!.label).toBe("Shape");
    expect(out.nodes[1]!.config).toEqual({
      value: {
        name: "{{ steps.fetch_1.output.body.name }}",
        raw: "{{ steps['fetch_1'].output }}",
        s: "{{ steps.start.output }}", // not pasted: still the original
      },
    });
    // Edges are remapped; their definition ids are not carried over (they would clash).
    expect(out.edges).toEqual([{ source: "fetch_1", target: "shape_1" }]);
    // Pasting again next to the first copy picks further ids.
    const again = pasteClip(clip, [...taken, ...out.nodes.map((n) => n.id)]);
    expect(again.nodes.map((n) => n.id)).toEqual(["fetch_2", "shape_2"]);
  });

  it("makes ids that follow the schema's node_id rule", () => {
    expect(copyId("fetch_3", new Set(["fetch_1"]))).toBe("fetch_2");
    expect(copyId("check-2", new Set())).toBe("check-2_1");
    expect(copyId("_1", new Set())).toBe("node_1");
    const long = "a".repeat(64);
    const id = copyId(long, new Set([`${"a".repeat(62)}_1`]));
    expect(id).toBe(`${"a".repeat(62)}_2`);
    for (const candidate of [id, copyId("x", new Set()), copyId("é", new Set())]) {
      expect(NODE_ID_PATTERN.test(candidate)).toBe(true);
    }
  });

  it("rewrites references only inside {{ … }} and only whole ids", () => {
    const renames = new Map([["a", "a_1"], ["my-node", "my-node_1"]]);
    expect(renameRefsInText("steps.a.output {{ steps.a.output }} {{ steps.ab.x }}", renames)).toBe(
      "steps.a.output {{ steps.a_1.output }} {{ steps.ab.x }}",
    );
    expect(renameRefsInText('{{ steps["my-node"].output | length }}', renames)).toBe('{{ steps["my-node_1"].output | length }}');
    expect(renameRefsInText("{{ steps.a }}", renames)).toBe("{{ steps.a_1 }}");
    expect(renameRefsInText("no template", renames)).toBe("no template");
  });
});
