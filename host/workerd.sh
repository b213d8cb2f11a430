#!/bin/sh
# workerd, with V8 flags added to the config Miniflare sends it (host/workerd-config-flags.mjs).
# Miniflare and wrangler dev run this instead of workerd when MINIFLARE_WORKERD_PATH names it.
# WORKERD_V8_FLAGS overrides the default: local workerd 1.20260426.1 can freeze for good when one
# of V8's background compilers (Sparkplug, Maglev) waits on a GC that the main thread never runs
# (README, "Local workerd freezes"); with V8 single-threaded there is no background thread to wait.
set -e
here=$(dirname "$0")
config=$(mktemp)
# shellcheck disable=SC2086 # the flags are words
node "$here/workerd-config-flags.mjs" ${WORKERD_V8_FLAGS---single-threaded} >"$config"
exec 0<"$config"
rm -f "$config"
# exec, so the process Miniflare stops is workerd itself
exec "$(cd "$here/.." && node -p 'require("workerd").default')" "$@"
