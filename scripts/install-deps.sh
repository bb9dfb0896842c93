#!/usr/bin/env bash
# install-deps.sh — install the Debian 12 packages BigFS needs to build,
# run and test, and the npm packages of the console's browser test
# (test/browser, versions pinned by its package-lock.json). Idempotent:
# when everything is present it prints nothing and exits 0; otherwise it
# runs `apt-get update` once and installs only what is missing (as root,
# or through sudo), and `npm ci` in test/browser when its node_modules is
# missing or older than the lock file.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

PACKAGES=(
	build-essential pkg-config
	libfuse3-dev fuse3
	librdkafka-dev libcurl4-openssl-dev libjansson-dev libmicrohttpd-dev
	libsqlite3-dev libisal-dev libssl-dev libcmocka-dev zlib1g-dev
	python3 python3-pytest python3-yaml
	attr acl fio curl kcat sqlite3 rsync git psmisc iproute2 socat procps
	util-linux coreutils tar findutils
	fiu-utils e2fsprogs
	docker-compose
	chromium
)
# Node.js for test/browser: Debian's, unless a node (and its npm) is
# there already (e.g. from NodeSource, whose nodejs bundles npm and
# conflicts with Debian's npm package).
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

# The console's browser test drives Debian's chromium with puppeteer-core
# (no browser download).
browser_deps() {
	local dir=$REPO/test/browser stamp=$REPO/test/browser/node_modules/.package-lock.json
	[ -f "$dir/package-lock.json" ] || return 0
	[ -f "$stamp" ] && [ "$stamp" -nt "$dir/package-lock.json" ] && return 0
	echo "install-deps: npm ci in test/browser" >&2
	(cd "$dir" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error \
		>/dev/null)
}

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	browser_deps
	exit 0
fi

echo "install-deps: installing missing packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
	SUDO=()
elif command -v sudo >/dev/null 2>&1; then
	SUDO=(sudo)
else
	echo "install-deps: these packages are missing and I am not root and" >&2
	echo "there is no sudo. Install them as root with:" >&2
	echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q >/dev/null
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
browser_deps
echo "install-deps: done" >&2
