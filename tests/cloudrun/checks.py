"""Assertions shared by the UI and job tests: the process is the planned one, as the image's
user, with the planned env (only :data:`~tests.cloudrun.harness.SUBSTITUTIONS` differ), over SSL."""

from __future__ import annotations

import re

from mage_runner.cli import exec_argv
from mage_runner.metadata_db import URL_ENV, bounded_url, connect_timeout

from tests.cloudrun.harness import SUBSTITUTIONS, Instance, cloud_env


def runner_adjusted(env: dict[str, str]) -> dict[str, str]:
    """The env the runner hands to what it execs: Mage's metadata URL with its connect timeout
    (mage_runner.metadata_db), everything else as started."""
    return {**env, URL_ENV: bounded_url(env[URL_ENV], connect_timeout(dict(env)))}


def assert_runs_as_planned(instance: Instance) -> None:
    """uid/gid, command + args, working dir and env of the live process (read from /proc)."""
    image, container = instance.image, instance.container
    uids, gids = instance.proc_ids()
    assert image.uid != 0, "the Dockerfile's USER is root; Cloud Run runs the image as its USER"
    assert set(uids) == {image.uid} and set(gids) == {image.gid}, (
        f"{container.resource} runs as uid {uids} gid {gids}, the image's USER is "
        f"{image.uid}:{image.gid}"
    )
    cmdline = instance.proc_cmdline()
    # the planned command, or what it execs into (the runner's `start` becomes `mage start`)
    argv = exec_argv(container.argv) or container.argv
    resolved = image.which(argv[0], instance.env["PATH"])
    # a script shows its resolved path after its interpreter; an executable its argv[0] as given
    starts = [i for i, part in enumerate(cmdline) if part in (resolved, argv[0])]
    assert resolved and starts, f"{cmdline} is not the planned {container.argv} ({argv})"
    assert cmdline[starts[0] + 1 :] == argv[1:], (
        f"{container.resource} runs {cmdline}, planned {container.argv} ({argv})"
    )
    assert instance.proc_cwd() == (container.working_dir or image.workdir)
    live = instance.proc_env()
    started = (
        runner_adjusted(instance.env)
        if live.get(URL_ENV) != instance.env.get(URL_ENV)
        else instance.env
    )
    changed = sorted(k for k in live.keys() | started.keys() if live.get(k) != started.get(k))
    assert not changed, f"the live env is not the env the instance was started with: {changed}"
    planned = cloud_env(instance.cloud, container, image, instance.kind)
    differ = {k for k in planned.keys() | live.keys() if planned.get(k) != live.get(k)}
    assert differ <= {s.name for s in SUBSTITUTIONS}, (
        f"env differs from the plan beyond the documented substitutions: {sorted(differ)}"
    )


def assert_connections_used_ssl(lines: list[str], users: set[str]) -> None:
    """Every ``connection authorized`` log line of ``users`` says SSL, and there is one each."""
    seen = set()
    for line in lines:
        match = re.search(r"connection authorized: user=(\S+)", line)
        if match and match.group(1) in users:
            seen.add(match.group(1))
            assert "SSL enabled" in line, f"a connection without SSL: {line}"
    assert seen == users, f"no logged connection of {sorted(users - seen)}"
