"""Writes (and checks) the trusted-document manifests the server ships, in ``studio_gql/trusted/``.

- ``python-client.json``: every document the generated Python client sends, exactly as it sends it: the string
  literals of the ``gql("…")`` calls in ``clients/python/studio_client/_generated*/client.py`` (ariadne-codegen
  composes each operation with its fragments there; the client hashes that very text).
- ``web.json``: the web app's, from ``frontend/src/gql/trusted-documents.json``, which ``npm run codegen`` writes
  (frontend/codegen.ts and frontend/trusted-documents.mjs: each document as urql sends it, with ``__typename``).

``python -m studio_gql.trusted_manifest`` writes both (``make trusted-documents``); ``--check`` exits 1 when a
committed manifest differs from what its source gives now (``make trusted-documents-check``, in ``make test``).
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

from studio_gql.trusted_documents import MANIFEST_DIR, document_hash

ROOT = Path(__file__).resolve().parents[1]
PYTHON_CLIENTS = (
    ROOT / "clients/python/studio_client/_generated/client.py",
    ROOT / "clients/python/studio_client/_generated_sync/client.py",
)
WEB_MANIFEST = ROOT / "frontend/src/gql/trusted-documents.json"


def python_client_documents(paths: tuple[Path, ...] = PYTHON_CLIENTS) -> dict[str, str]:
    """The documents of the generated clients, by hash: each ``gql("…")`` call's string."""
    documents: dict[str, str] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "gql"
                and len(node.args) == 1
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                text = node.args[0].value
                documents[document_hash(text)] = text
    return dict(sorted(documents.items()))


def web_documents(path: Path = WEB_MANIFEST) -> dict[str, str]:
    """The web app's documents by hash, from graphql-codegen's output (checked: the key is the text's sha256)."""
    found = {key.removeprefix("sha256:"): text for key, text in json.loads(path.read_text(encoding="utf-8")).items()}
    documents = {document_hash(text): text for text in found.values()}
    if set(documents) != set(found):
        raise SystemExit(f"{path}: keys are not the sha256 of the documents: run 'npm run codegen' again")
    return dict(sorted(documents.items()))


def render(documents: dict[str, str]) -> str:
    return json.dumps(documents, indent=1, ensure_ascii=False) + "\n"


def manifests() -> dict[str, str]:
    """Each manifest's name and its content from the sources now (the web one only when codegen has run)."""
    wanted = {"python-client.json": render(python_client_documents())}
    if WEB_MANIFEST.exists():
        wanted["web.json"] = render(web_documents())
    return wanted


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, content in manifests().items():
        path = MANIFEST_DIR / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == content:
            continue
        if check:
            stale.append(name)
        else:
            path.write_text(content, encoding="utf-8")
            sys.stdout.write(f"wrote {path.relative_to(ROOT)}\n")
    if stale:
        sys.stderr.write(
            f"stale trusted-document manifests: {', '.join(stale)}: run 'make trusted-documents' and commit "
            "studio_gql/trusted/\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
