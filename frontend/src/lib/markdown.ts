// The Markdown of node type descriptions (and other short help texts): a small, safe subset parsed to a tree that
// React renders as elements. No HTML ever passes through: a `<b>` in the text is text. Inline: `code`, **bold**,
// *emphasis* or _emphasis_, [links](https://…) to http(s) and mailto addresses only (anything else stays text);
// blank lines separate paragraphs.

export type Inline =
  | { kind: "text"; text: string }
  | { kind: "code"; text: string }
  | { kind: "strong"; children: Inline[] }
  | { kind: "em"; children: Inline[] }
  | { kind: "link"; href: string; children: Inline[] };

export type Block = { kind: "paragraph"; children: Inline[] };

const SAFE_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);

/** `href` when it is an absolute http(s) or mailto URL, else null (javascript:, data:, relative paths…). */
export function safeHref(href: string): string | null {
  try {
    const url = new URL(href);
    return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

export function parseMarkdown(source: string): Block[] {
  return source
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => ({ kind: "paragraph", children: parseInline(p.replace(/\s*\n\s*/g, " ")) }));
}

export function parseInline(text: string): Inline[] {
  const out: Inline[] = [];
  let plain = "";
  const flush = () => {
    if (plain) out.push({ kind: "text", text: plain });
    plain = "";
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === "\\" && i + 1 < text.length && "\\`*_[]()".includes(text[i + 1]!)) {
      plain += text[i + 1];
      i += 2;
      continue;
    }
    if (c === "`") {
      // A run of n backticks closes on the next run of exactly n (so `` a ` b `` holds a backtick).
      let n = 1;
      while (text[i + n] === "`") n++;
      const fence = "`".repeat(n);
      const end = findRun(text, fence, i + n);
      if (end > 0) {
        flush();
        const code = text.slice(i + n, end);
        out.push({ kind: "code", text: code.length > 2 && code.startsWith(" ") && code.endsWith(" ") ? code.slice(1, -1) : code });
        i = end + n;
        continue;
      }
    }
    if ((c === "*" || c === "_") && text[i + 1] === c) {
      const end = text.indexOf(c + c, i + 2);
      if (end > i + 2) {
        flush();
        out.push({ kind: "strong", children: parseInline(text.slice(i + 2, end)) });
        i = end + 2;
        continue;
      }
    }
    if ((c === "*" || c === "_") && text[i + 1] !== c && text[i + 1] !== " " && (c === "*" || !/\w/.test(text[i - 1] ?? ""))) {
      const end = findEmphasisEnd(text, c, i + 1);
      if (end > 0) {
        flush();
        out.push({ kind: "em", children: parseInline(text.slice(i + 1, end)) });
        i = end + 1;
        continue;
      }
    }
    if (c === "[") {
      const close = text.indexOf("]", i + 1);
      if (close > i && text[close + 1] === "(") {
        const paren = text.indexOf(")", close + 2);
        const href = paren > 0 ? safeHref(text.slice(close + 2, paren).trim()) : null;
        if (href) {
          flush();
          out.push({ kind: "link", href, children: parseInline(text.slice(i + 1, close)) });
          i = paren + 1;
          continue;
        }
      }
    }
    plain += c;
    i++;
  }
  flush();
  return out;
}

function findRun(text: string, fence: string, from: number): number {
  for (let at = text.indexOf(fence, from); at >= 0; at = text.indexOf(fence, at + 1)) {
    if (text[at - 1] !== "`" && text[at + fence.length] !== "`") return at;
  }
  return -1;
}

function findEmphasisEnd(text: string, marker: string, from: number): number {
  for (let at = text.indexOf(marker, from); at > from; at = text.indexOf(marker, at + 1)) {
    const closesWord = text[at - 1] !== " " && (marker === "*" || !/\w/.test(text[at + 1] ?? ""));
    if (closesWord && text[at + 1] !== marker) return at;
  }
  return -1;
}

/** The text alone, without the marks (for a `title` attribute or a search). */
export function plainText(source: string): string {
  const walk = (nodes: Inline[]): string =>
    nodes.map((n) => (n.kind === "text" || n.kind === "code" ? n.text : walk(n.children))).join("");
  return parseMarkdown(source)
    .map((b) => walk(b.children))
    .join("\n\n");
}
