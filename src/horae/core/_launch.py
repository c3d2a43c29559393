"""Turning a run of a job into a `Launch`: argv with Chronos's shell/arguments rules, and the environment."""

from __future__ import annotations

from horae.model import Job, Launch, Run, epoch_ms


def run_arguments(job: Job, run: Run) -> tuple[str, ...]:
    return run.arguments if run.arguments is not None else job.arguments


def build_argv(job: Job, arguments: tuple[str, ...]) -> tuple[str, ...]:
    """Chronos appends the arguments to the command string for shell jobs (whatever its docs say);
    without a shell the command is the executable and the arguments follow it."""
    if job.shell:
        command = " ".join((job.command, *arguments)) if arguments else job.command
        return ("/bin/sh", "-c", command)
    return (job.command, *arguments)


def _chronos_number(value: float) -> str:
    return repr(float(value))  # as a Scala Double prints: 128.0, 0.1


def task_environment(job: Job, run: Run, task_id: str) -> tuple[tuple[str, str], ...]:
    """The job's variables, then the run's overrides, then the built-in ones, which nothing overrides."""
    env: dict[str, str] = {v.name: v.value for v in job.environment_variables}
    env.update(run.environment)
    env.update(
        {
            "mesos_task_id": task_id,
            "MESOS_TASK_ID": task_id,
            "CHRONOS_JOB_NAME": job.name,
            "CHRONOS_JOB_OWNER": job.owner,
            "CHRONOS_JOB_RUN_TIME": str(epoch_ms(run.scheduled_for)),
            "CHRONOS_JOB_RUN_ATTEMPT": str(run.attempt),
            "CHRONOS_RESOURCE_CPU": _chronos_number(job.cpus),
            "CHRONOS_RESOURCE_MEM": _chronos_number(job.mem),
            "CHRONOS_RESOURCE_DISK": _chronos_number(job.disk),
            "HORAE_JOB": job.name,
            "HORAE_RUN_ID": run.id,
            "HORAE_SCHEDULED_FOR": run.scheduled_for.isoformat().replace("+00:00", "Z"),
            "HORAE_ATTEMPT": str(run.attempt),
            "HORAE_TRIGGER": run.trigger.value,
        }
    )
    return tuple(env.items())


def build_launch(job: Job, run: Run) -> Launch:
    arguments = run_arguments(job, run)
    task_id = run.task_id(job.arguments)
    return Launch(
        run_id=run.id,
        job=job.name,
        attempt=run.attempt,
        task_id=task_id,
        argv=build_argv(job, arguments),
        environment=task_environment(job, run, task_id),
        user=job.run_as_user,
        container=job.container,
        cpus=job.cpus,
        mem=job.mem,
        disk=job.disk,
        timeout=job.timeout,
    )
