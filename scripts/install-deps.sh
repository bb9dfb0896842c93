#!/usr/bin/env bash
# install-deps.sh — install the Debian 12 packages BigFS needs to build,
# run and test. Idempotent: when everything is present it prints nothing and
# exits 0; otherwise it runs `apt-get update` once and installs only what
# is missing (as root, or through sudo).
set -euo pipefail

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
)

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

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
echo "install-deps: done" >&2
