#!/bin/sh
# As in the official image: anything that is not "minio" gets "minio" put in
# front, so `docker run IMAGE server /data` runs `minio server /data`.
# Extra here: mc, weed and shells run as given (debugging, `mc ready local`).
case "$1" in
  minio|mc|weed|sh|bash|curl) ;;
  "") ;;
  *) set -- minio "$@" ;;
esac
exec "$@"
