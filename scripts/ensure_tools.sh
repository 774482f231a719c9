#!/usr/bin/env bash
# Makes sure Debian's tools are installed: each argument is COMMAND:PACKAGE (e.g.
# nats-server:nats-server, promtool:prometheus). Missing ones are installed with apt-get when
# running as root; otherwise it says how to install them and fails.
set -euo pipefail
missing=()
for spec in "$@"; do
  command -v "${spec%%:*}" >/dev/null 2>&1 || missing+=("${spec#*:}")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's ${missing[*]} (not found)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  ok=1
  for spec in "$@"; do command -v "${spec%%:*}" >/dev/null 2>&1 || ok=0; done
  [ "$ok" -eq 1 ] && exit 0
fi
echo "required but not installed: ${missing[*]}. Install with: sudo apt-get install -y ${missing[*]}" >&2
exit 1
