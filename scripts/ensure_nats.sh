#!/usr/bin/env bash
# Makes sure Debian's nats-server is installed: installs it with apt-get when running as root,
# otherwise says how to install it and fails.
set -euo pipefail
if command -v nats-server >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "nats-server not found: installing Debian's nats-server package" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq nats-server >&2
  command -v nats-server >/dev/null 2>&1 && exit 0
fi
echo "nats-server is required but not installed. Install it with: sudo apt-get install -y nats-server" >&2
exit 1
