# horae's launcher: the main process of a job's container, under Docker's init (POSIX sh; its loop
# forks, but never execs).
#   <shell> -c "$launcher" <shell> <launcher-dir> <helper> <runner-script>
# <launcher-dir> holds two FIFOs made by the host: `ctl` (host -> launcher, one command per line) and
# `events` (launcher and runners -> host). Both are opened read-write, so neither side ever blocks on
# open or sees EOF while the other is away (a restarted host finds them where they were).
# Commands:
#   r <attempt>           run the runner for /.horae/job/<attempt> in a forked subshell, report it started
#   k <signal> <pgid>     signal a run's process group (or its first process, before it made the group)
# `jobs` after each start: a shell keeps every background job (for a later `wait`) until it has been
# reported, so without it the launcher's memory would grow with every run it ever started.
exec 3<>"$1/ctl" 4<>"$1/events" </dev/null
eval "horae_run() {
$3
}"
echo "ready $$ $0" >&4
# Odd variable names: the image may export common ones, and runs inherit what is exported.
while read -r _horae_verb _horae_a _horae_b <&3; do
  case $_horae_verb in
  r) horae_run "/.horae/job/$_horae_a" 3<&- &
    echo "s $_horae_a $!" >&4
    jobs >/dev/null ;;
  k) kill "-$_horae_a" "-$_horae_b" 2>/dev/null || kill "-$_horae_a" "$_horae_b" 2>/dev/null ;;
  esac
done
