#!/bin/sh
# Entry point of the container image: runs `monitor "$@"` (by default `monitor run`) once
# the state folder, where the job keeps its SQLite database and writes digests, is writable.
#
# Started as root, as docker-compose.yml starts it: gives the state folder to uid/gid 10001
# if anything in it belongs to someone else (a bind-mounted ./state belongs to the host
# user), then runs again as 10001:10001 through setpriv, with no groups and no
# capabilities left. Started as any other user (the image's own USER 10001, or `user:` in
# compose): changes nothing, and if the folder is not writable, stops at once with the
# command that fixes it rather than failing later on a read-only database.
#
# MONITOR_STATE_DIR names the folder (default /app/state).
set -eu

state_dir="${MONITOR_STATE_DIR:-/app/state}"
uid=10001
gid=10001

if [ "$(id -u)" = 0 ]; then
    foreign=$(find "$state_dir" \( ! -uid "$uid" -o ! -gid "$gid" \) -print -quit 2>/dev/null || true)
    if [ -n "$foreign" ]; then
        echo "monitor: giving $state_dir to $uid:$gid" >&2
        chown -R "$uid:$gid" "$state_dir" || echo "monitor: could not change the owner of $state_dir" >&2
    fi
    exec setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$0" "$@"
fi

if ! blocked=$(find "$state_dir" ! -writable -print -quit 2>/dev/null); then
    blocked=$state_dir
fi
if [ -n "$blocked" ]; then
    cat >&2 <<EOF
monitor: cannot write $blocked (running as uid $(id -u), gid $(id -g)).
The job keeps its database and digests in $state_dir. If that is ./state on the host,
give it to this user once, from the folder that holds docker-compose.yml:

    sudo chown -R $(id -u):$(id -g) state

(Started as root, as docker-compose.yml starts it, the container does this by itself,
unless the folder refuses a change of owner.)
EOF
    exit 1
fi

exec monitor "$@"
