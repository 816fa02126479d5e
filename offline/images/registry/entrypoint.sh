#!/bin/sh
# Same dispatch as the official image: a config file path or a registry
# sub-command as first argument runs the registry; anything else is executed.
set -e
case "$1" in
  *.yaml|*.yml) set -- registry serve "$@" ;;
  serve|garbage-collect|help|-*) set -- registry "$@" ;;
esac
exec "$@"
