# horae's run supervisor inside a container, one per attempt: a subshell of the launcher (warm and fresh
# modes; the launcher reports it started) or `sh -c "$runner" horae-run <attempt-dir> <events-fifo>`
# (exec mode; it reports that itself). Events: "s <attempt> <pid>" started, "p <attempt> <pgid>" the
# command's process group, "x <attempt> <status>" ended ("-": the attempt was already claimed).
# It starts the command in a session and process group of its own (busybox setsid, which keeps the pid)
# and stays outside it, so a KILL of the run's group still leaves it to record the exit status.
# Files in <attempt-dir>, shared with the host through the mounted job directory:
#   state      created exclusively (an attempt is never started twice) and kept open on fd 5; line 1: the
#              command's pid (its process group), line 2: its exit status ($?), written as it ends
#   spec       written by the host: `set -- "$1" "$2" argv...`, then the run's unsets and exports
#              (its first line, a comment, names the container and image: the run's record)
#   output.log the command's stdout and stderr
#   oom        the container's memory cgroup OOM-killed something while the run was alive and it died by KILL
#              (the cgroup's "oom_kill" count: memory.oom_control in cgroup v1, memory.events in v2)
# Positional parameters only until the command has started: the run's exports may name any variable.
case $2 in ?*) exec 4<>"$2"; echo "s ${1#/.horae/job/} $$" >&4 ;; esac
# `command exec`: a failed redirection of plain `exec` would end the shell before it could say so.
set -C
{ command exec 5>"$1/state"; } 2>/dev/null || { echo "x ${1#/.horae/job/} -" >&4; exit 0; }
set +C
cd "$1/work" || { { echo 0; echo 125; } >&5; echo "x ${1#/.horae/job/} 125" >&4; exit 125; }
set -- "$1" ""
. "$1/spec"
(shift 2; exec /.horae/bin/busybox setsid "$@") </dev/null >>"$1/output.log" 2>&1 4>&- 5>&- &
_horae_pid=$!
echo "p ${1#/.horae/job/} $_horae_pid" >&4
echo "$_horae_pid" >&5
# The container's OOM kills so far, into _horae_oom (empty: no memory cgroup file to read). Builtins only.
horae_ooms() {
  _horae_oom=
  for _horae_f in /sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/memory.events; do
    [ -r "$_horae_f" ] || continue
    while read -r _horae_k _horae_v; do
      case $_horae_k in oom_kill) _horae_oom=$_horae_v; return ;; esac
    done <"$_horae_f"
  done
}
# The OOM baseline is read once the command is on its way (a run cannot reach the limit this fast).
horae_ooms
set -- "$1" "$_horae_oom"
# A signal this process catches would interrupt wait; wait again until the command has really ended.
while :; do
  wait "$_horae_pid"
  _horae_s=$?
  kill -0 "$_horae_pid" 2>/dev/null || break
done
if [ "$_horae_s" = 137 ] && [ -n "$2" ] && horae_ooms && [ "$_horae_oom" != "$2" ]; then
  echo "$2 $_horae_oom" >"$1/oom"
fi
echo "$_horae_s" >&5
echo "x ${1#/.horae/job/} $_horae_s" >&4
