# horae's run supervisor, one per attempt, in its own session (POSIX sh; builtins only).
#   sh -c "$script" horae-supervisor <attempt-dir> <PWD> <OLDPWD> <argv...>
# It is the command's parent and records the exit status in <attempt-dir>/state, so the outcome never
# depends on the server being alive. fd 0 is that state file, opened read-write and locked by the
# server before the spawn, then held by this process alone for its whole life ("locked" means
# "supervisor alive", which a reused pid cannot fake); fd 1 is the output log; fd 2 is /dev/null (the
# shell's own messages). The state file gets two lines: this process's pid, then the exit status.
# Positional parameters only: a variable of ours could shadow one the command's environment exports.
#
# A handler, never '': ignored signals are inherited across exec. The handler lets this process outlive
# a TERM sent to the run's process group and still record how the command ended.
trap : HUP INT TERM
cd "$1/work" || exit 125
echo "$$" >&0
# dash exports PWD (and OLDPWD after cd): give back the job's own values ("=value") or drop them ("").
case $2 in =*) PWD=${2#=} ;; *) unset PWD ;; esac
case $3 in =*) OLDPWD=${3#=} ;; *) unset OLDPWD ;; esac
shift 3
# Through exec in a subshell: a shell builtin of the same name (echo, exit, kill …) never runs in here,
# and the shell's own "Terminated" notices go to this process's stderr (/dev/null), not the log.
# The server writes ../stop before it signals the group, so a TERM that came before this child joined
# the group is not missed: a stopped attempt never starts its command.
(if [ -e ../stop ]; then exit 143; fi; exec "$@") </dev/null 2>&1
echo "$?" >&0
