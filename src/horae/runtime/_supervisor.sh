# horae's run supervisor, one per attempt, in its own session (POSIX sh; builtins only).
#   sh -c "$script" horae-supervisor <attempt-dir> <PWD> <OLDPWD> <argv...>
# It is the command's parent and records the exit status in <attempt-dir>/status, so the outcome never
# depends on the server being alive. fd 0 is the attempt's lock, held by this process alone for its
# whole life ("lock held" means "supervisor alive", which a reused pid cannot fake); fd 1 is the output
# log; fd 2 is /dev/null (the shell's own messages).
# Positional parameters only: a variable of ours could shadow one the command's environment exports.
#
# A handler, never '': ignored signals are inherited across exec. The handler lets this process outlive
# a TERM sent to the run's process group and still record how the command ended.
trap : HUP INT TERM
cd "$1/work" || exit 125
echo "$$" >../pid
# dash exports PWD (and OLDPWD after cd): give back the job's own values ("=value") or drop them ("").
case $2 in =*) PWD=${2#=} ;; *) unset PWD ;; esac
case $3 in =*) OLDPWD=${3#=} ;; *) unset OLDPWD ;; esac
shift 3
# Through exec in a subshell: a shell builtin of the same name (echo, exit, kill …) never runs in here,
# and the shell's own "Terminated" notices go to this process's stderr (/dev/null), not the log.
# The server writes ../stop before it signals the group, so a TERM that came before this child joined
# the group is not missed: a stopped attempt never starts its command.
(if [ -e ../stop ]; then exit 143; fi; exec "$@") </dev/null 2>&1
echo "$?" >../status
