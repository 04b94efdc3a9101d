#!/bin/sh
# Create the project's Python environment (.venv) on a Debian 12 machine, idempotently.
# Installs only what building the Python dependencies needs; `ptnet setup` does the rest.
set -eu
cd "$(dirname "$0")/.."

PKGS="python3-venv python3-dev libvirt-dev pkg-config gcc"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

missing=""
for p in $PKGS; do
	dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "bootstrap: installing$missing" >&2
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi

if [ ! -x .venv/bin/python ]; then
	python3 -m venv .venv
fi
stamp=.venv/.ptnet-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
	.venv/bin/python -m pip install -q --upgrade pip
	.venv/bin/python -m pip install -q -e '.[dev]'
	touch "$stamp"
fi
