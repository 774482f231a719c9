#!/bin/sh
# Makes the six NATS password files of deploy/docker-compose.yml in DIR (created if missing), one
# per user, named <user>_nats_password, each a fresh random password of letters and digits starting
# with a letter (nats-server reads the value as a config value: an all-digit one becomes a number).
# Existing files are kept, so running it again changes nothing.
#
#   sudo deploy/make-secrets.sh /etc/lockstep/secrets
#   export LOCKSTEP_SECRETS_DIR=/etc/lockstep/secrets
#
# Compose without Swarm bind-mounts secret files as they are, owner and mode included. The node
# users' files (liaison, data, claimer) are read inside the containers by the image's `node` user,
# uid 1000: run as root, this script makes them owned by uid 1000, mode 0400. The application users'
# files (admin, writer, reader) are read by nats-server (root in its container) and by you, for
# the CLI: they stay yours, mode 0400.
set -eu
if [ "$#" -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir=$1
umask 077
mkdir -p "$dir"
for user in liaison data claimer admin writer reader; do
  file="$dir/${user}_nats_password"
  if [ -e "$file" ]; then
    echo "kept    $file"
    continue
  fi
  password="p$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')"
  printf '%s\n' "$password" > "$file"
  chmod 0400 "$file"
  case $user in
    liaison | data | claimer)
      if [ "$(id -u)" -eq 0 ]; then
        chown 1000:1000 "$file"
      elif [ "$(id -u)" -ne 1000 ]; then
        echo "warning: $file is not readable by uid 1000 (the image's node user): run as root or chown it" >&2
      fi
      ;;
  esac
  echo "created $file"
done
