#!/usr/bin/env bash
# Installs every build and test dependency of stagegate from Debian 12's apt and, for the
# end-to-end tests, the npm packages pinned in tests/e2e/node/package-lock.json.
# Idempotent and quick when everything is present: apt runs only for missing packages.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config make ccache
  libboost-dev libssl-dev nlohmann-json3-dev libspdlog-dev libyaml-cpp-dev libsqlite3-dev
  libexpected-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-pytest python3-yaml python3-scipy python3-sklearn python3-numpy python3-pandas
  sqlite3 jq curl wrk openssl ca-certificates
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js may come from elsewhere than Debian (its own npm then conflicts with Debian's npm
# package): only ask apt for them when the commands are missing.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ "${1:-}" = "--with-npm" ]; then
  node_dir="$(dirname "$0")/../tests/e2e/node"
  if [ -f "$node_dir/package-lock.json" ] && [ ! -d "$node_dir/node_modules" ]; then
    (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
