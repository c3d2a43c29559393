# horae's run supervisor inside a container, one per attempt, the leader of its own session and group.
#   sh -c "$runner" horae-run <attempt-dir> [<events-fifo>]      (fd 4: the events FIFO, when inherited)
# Files in <attempt-dir> (shared with the host through the mounted job directory):
#   claim (created exclusively: an attempt is never started twice), pid (this process = the run's
#   process group), spec (written by the host: `set -- "$1" "$2" argv...` then the run's exports),
#   output.log, status ($? of the command, written last), oom (the container's memory cgroup
#   OOM-killed something while the run was alive and the run died by KILL).
# Positional parameters only before the command runs: the run's exports may name any variable.
trap : HUP INT TERM
case $2 in ?*) exec 4<>"$2" ;; esac
set -C
{ : >"$1/claim"; } 2>/dev/null || exit 0
set +C
cd "$1/work" || { echo 125 >"$1/status"; echo "x ${1#/.horae/job/} 125" >&4; exit 125; }
echo "$$" >"$1/pid"
set -- "$1" ""
{ read -r _ _; read -r _ _; read -r _ _horae_oom; } </sys/fs/cgroup/memory/memory.oom_control 2>/dev/null && set -- "$1" "$_horae_oom"
. "$1/spec"
echo "s ${1#/.horae/job/} $$" >&4
(shift 2; exec "$@") </dev/null >>"$1/output.log" 2>&1 4>&-
_horae_s=$?
if [ "$_horae_s" = 137 ] && { read -r _ _; read -r _ _; read -r _ _horae_oom; } </sys/fs/cgroup/memory/memory.oom_control 2>/dev/null && [ "$_horae_oom" != "$2" ]; then
  echo "$2 $_horae_oom" >"$1/oom"
fi
echo "$_horae_s" >"$1/status"
echo "x ${1#/.horae/job/} $_horae_s" >&4
