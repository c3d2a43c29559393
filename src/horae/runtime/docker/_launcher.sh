# horae's launcher: the main process of a job's warm container (POSIX sh, builtins only in its loop).
#   <shell> -c "$launcher" <shell> <launcher-dir> <helper> <runner-script>
# <launcher-dir> holds two FIFOs made by the host: `ctl` (host -> launcher, one command per line) and
# `events` (launcher and runners -> host). Both are opened read-write, so neither side ever blocks on
# open or sees EOF while the other is away (the host may restart; commands wait in the pipe).
# <helper> is the host's static busybox mounted read-only: `setsid` gives each run its own session.
# Commands:
#   r <attempt>        start a runner for /.horae/job/<attempt> (it claims the attempt, so never twice)
#   k <sig> <pgid> <attempt>   signal the run's process group unless the attempt already has a status
exec 3<>"$1/ctl" 4<>"$1/events" </dev/null
echo "ready $$ $0" >&4
# Odd variable names: the image may export common ones, and runs inherit the exported ones.
while read -r _horae_verb _horae_a _horae_b _horae_c <&3; do
  case $_horae_verb in
  r) "$2" setsid "$0" -c "$3" horae-run "/.horae/job/$_horae_a" 3<&- & ;;
  k) [ -e "/.horae/job/$_horae_c/status" ] || kill "-$_horae_a" "-$_horae_b" 2>/dev/null ;;
  esac
done
