#!/bin/sh
# Entrypoint of the NATS services in deploy/docker-compose.yml: exports every user's password from
# its compose secret (/run/secrets/<user>_nats_password) as the <USER>_NATS_PASSWORD variable
# nats-users.conf reads, then replaces itself with nats-server and the arguments it was given. The
# passwords reach nats-server through its environment only: never a command line (which `ps`
# shows), never the compose file or `docker inspect`. NATS_SECRETS_DIR replaces /run/secrets (the
# tests run this script outside a container).
set -eu
secrets=${NATS_SECRETS_DIR:-/run/secrets}
for pair in liaison:LIAISON data:DATA claimer:CLAIMER admin:ADMIN writer:WRITER reader:READER; do
  user=${pair%%:*}
  file="$secrets/${user}_nats_password"
  if [ ! -r "$file" ]; then
    echo "nats-entrypoint: $file is missing or unreadable (compose secret ${user}_nats_password)" >&2
    exit 1
  fi
  # $(…) drops the trailing newline of the file.
  password="$(cat "$file")"
  if [ -z "$password" ]; then
    echo "nats-entrypoint: $file is empty" >&2
    exit 1
  fi
  export "${pair#*:}_NATS_PASSWORD=$password"
done
unset password
exec nats-server "$@"
