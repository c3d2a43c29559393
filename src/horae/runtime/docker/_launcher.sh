# horae's launcher: the main process of a job's warm container (POSIX sh, builtins only in its loop).
#   sh -c "$launcher" horae-launcher <launcher-dir> <helper> <runner-script>
# <launcher-dir> holds two FIFOs made by the host: `ctl` (host -> launcher, one command per line) and
# `events` (launcher and runners -> host). Both are opened read-write, so neither side ever blocks on
# open or sees EOF while the other is away (the host may restart; commands wait in the pipe).
# <helper> is the host's static busybox mounted read-only: `setsid` gives each run its own session.
# Commands:
#   r <attempt>        start a runner for /.horae/job/<attempt> (it claims the attempt, so never twice)
#   k <sig> <pgid> <attempt>   signal the run's process group unless the attempt already has a status
exec 3<>"$1/ctl" 4<>"$1/events" </dev/null
echo "ready $$ $0" >&4
while read -r verb a b c <&3; do
  case $verb in
  r) "$2" setsid "$SHELL_PATH" -c "$3" horae-run "/.horae/job/$a" 3<&- & ;;
  k) [ -e "/.horae/job/$c/status" ] || kill "-$a" "-$b" 2>/dev/null ;;
  esac
done
