#!/bin/sh
# websocketd_echo.sh PORT - websocketd (Debian's websocketd, an independent Go server) running
# `cat` per connection: each text message is written to cat's stdin as one line and each line cat
# prints comes back as one text message, so line-free text messages are echoed. websocketd
# prints no ready line of its own; wait for the port to accept connections.
set -eu
port=${1:-${PORT:?usage: websocketd_echo.sh PORT}}
exec websocketd --port="$port" --address=127.0.0.1 --loglevel=error cat
