# Shell functions the test servers' scripts share (sourced by samba.sh,
# nfs.sh and radosgw.sh). Each script defines say() before using them.

# Whether a PID still runs: a daemon that exited stays a zombie until
# whoever adopted it (PID 1 or a subreaper) reaps it, which can take seconds.
running() {
  local st
  st=$({ cat "/proc/$1/stat"; } 2>/dev/null) || return 1
  st=${st##*) }
  [ "${st%% *}" != Z ]
}

# TERM, TERM again after 2 s (smbd has been seen to miss the first one),
# KILL after 10 s.
stop_pid() {
  local p=$1 i
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    running "$p" || return 0
    [ $i -eq 20 ] && kill -TERM "$p" 2>/dev/null
    sleep 0.1
  done
  say "pid $p ignored SIGTERM for 10 s: SIGKILL"
  kill -KILL "$p" 2>/dev/null || true
}

# A TCP port of 127.0.0.1 that is free now (another process may take it
# before the server binds it).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
