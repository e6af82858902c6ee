"""The Cloud Run contract harness: run the *planned* containers as Cloud Run would run them here.

- :func:`planned_containers` reads the UI service and every job from the offline plan.
- :class:`PlannedSecrets` resolves each ``secret_key_ref`` to a freshly generated value.
- :class:`Image` is the Dockerfile's ENV/WORKDIR/USER and its ``/home`` tree (``.dockerignore``
  applied with Docker's SDK rules), built anew for every instance: a fresh filesystem.
- :class:`Cloud` is what outlives instances: the Cloud SQL stand-in, the twin's GCS/BigQuery
  emulators and file server, the secrets; :data:`SUBSTITUTIONS` is the one list of env values
  that differ from the plan here.
- :func:`start_ui_instance` / :func:`run_job` start a container in a private mount namespace
  (``unshare --mount``) as the image's uid, see docs/testing.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import string
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, ClassVar

from tools import image as image_tool
from tools.offline import Plan, PlannedResource
from twin.process import stop_group

from mage_project.utils.image_contract import REPO_ROOT
from tests.cloudrun.cloudsql import HOST, CloudSqlStandIn

DOCKERFILE = REPO_ROOT / "Dockerfile"
ENTER = Path(__file__).with_name("enter_instance.py")
SERVICE = "gcp:cloudrunv2/service:Service"
JOB = "gcp:cloudrunv2/job:Job"


class ContractError(AssertionError):
    """The plan, the image or an instance breaks the Cloud Run contract."""


# -- the plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GcsVolume:
    """A planned Cloud Storage volume mounted into a container (Cloud Run runs Cloud Storage
    FUSE for it: https://cloud.google.com/run/docs/configuring/services/cloud-storage-volume-mounts)."""

    name: str
    mount_path: str
    bucket: str
    options: tuple[str, ...] = ()

    def option(self, key: str) -> str | None:
        """A ``key=value`` mount option's value (None when not set)."""
        found = [o.split("=", 1)[1] for o in self.options if o.startswith(f"{key}=")]
        return found[-1] if found else None


@dataclass(frozen=True)
class Container:
    """One planned Cloud Run container: what Cloud Run is told to run."""

    resource: str
    name: str  # the Cloud Run service or job name
    command: list[str]
    args: list[str]
    working_dir: str | None
    env: dict[str, str]
    secret_env: dict[str, str]  # variable -> Secret Manager secret id (its pinned version)
    port: int | None = None
    startup_probe: dict[str, Any] | None = None
    liveness_probe: dict[str, Any] | None = None
    volumes: tuple[GcsVolume, ...] = ()
    #: A job's execution settings (None for the service): tasks per execution, how many run at
    #: once, how often a failed task is started again.
    task_count: int | None = None
    parallelism: int | None = None
    max_retries: int | None = None

    @property
    def argv(self) -> list[str]:
        return [*self.command, *self.args]


@dataclass(frozen=True)
class TaskPosition:
    """A job task's place in its execution: ``CLOUD_RUN_TASK_INDEX``/``COUNT``/``ATTEMPT``."""

    index: int = 0
    count: int = 1
    attempt: int = 0


def _ints(value: Any) -> Any:
    """Numbers come back from the mock monitor as floats (protobuf Struct): 6789.0 -> 6789."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def _gcs_volumes(spec: dict, template_volumes: list[dict]) -> tuple[GcsVolume, ...]:
    """The container's mounts of the template's Cloud Storage volumes."""
    sources = {v.get("name"): v.get("gcs") for v in template_volumes or [] if v.get("gcs")}
    volumes = []
    for mount in spec.get("volumeMounts") or []:
        gcs = sources.get(mount.get("name"))
        if gcs is None:
            raise ContractError(f"volume mount {mount.get('name')!r} names no planned volume")
        volumes.append(GcsVolume(
            mount["name"], mount["mountPath"], str(gcs["bucket"]),
            tuple(gcs.get("mountOptions") or []),
        ))  # fmt: skip
    return tuple(volumes)


def _container(
    resource: PlannedResource,
    spec: dict,
    template_volumes: list[dict] | None = None,
    execution: dict | None = None,
) -> Container:
    spec = _ints(spec)
    plain, refs = {}, {}
    for entry in spec.get("envs") or []:
        ref = (entry.get("valueSource") or {}).get("secretKeyRef")
        if ref:
            if ref.get("version") != PlannedSecrets.PINNED:
                raise ContractError(
                    f"{entry['name']} reads secret version {ref.get('version')!r}, not the one "
                    f"the stack created ({PlannedSecrets.PINNED})"
                )
            refs[entry["name"]] = ref["secret"]
        else:
            plain[entry["name"]] = str(entry.get("value", ""))
    ports = spec.get("ports") or {}
    ports = ports[0] if isinstance(ports, list) else ports
    return Container(
        resource=resource.name,
        name=str(resource.get("name")),
        command=list(spec.get("commands") or []),
        args=list(spec.get("args") or []),
        working_dir=spec.get("workingDir"),
        env=plain,
        secret_env=refs,
        port=ports.get("containerPort"),
        startup_probe=spec.get("startupProbe"),
        liveness_probe=spec.get("livenessProbe"),
        volumes=_gcs_volumes(spec, template_volumes or []),
        **_execution_settings(_ints(execution)) if execution is not None else {},
    )


def _execution_settings(template: dict) -> dict[str, int]:
    """A job's ``template`` (ExecutionTemplate) as :class:`Container` fields, with the Run API's
    defaults: taskCount 1, maxRetries 3; parallelism 0 means as many as possible
    (https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.jobs#executiontemplate)."""
    count = int(template.get("taskCount") or 1)
    retries = (template.get("template") or {}).get("maxRetries")
    return {
        "task_count": count,
        "parallelism": int(template.get("parallelism") or 0) or count,
        "max_retries": 3 if retries is None else int(retries),
    }


def planned_containers(plan: Plan) -> dict[str, Container]:
    """``{"ui": <service container>, "<pipeline>": <job container>, ...}`` of one plan."""
    out: dict[str, Container] = {}
    (service,) = plan.of_type(SERVICE)
    (container,) = service.get("template", "containers")
    out["ui"] = _container(service, container, service.get("template", "volumes"))
    job_names = {name: pipeline for pipeline, name in plan.outputs["pipeline_jobs"].items()}
    job_names[plan.outputs["backfill_job"]] = "backfill"  # started with per-execution overrides
    for job in plan.of_type(JOB):
        (container,) = job.get("template", "template", "containers")
        volumes = job.get("template", "template", "volumes")
        out[job_names[job.get("name")]] = _container(
            job, container, volumes, execution=job.get("template")
        )
    return out


# -- secrets -----------------------------------------------------------------------------------


def _generated(resource: PlannedResource) -> str:
    """A value as pulumi-random's RandomPassword would generate it from the planned inputs."""
    alphabet = string.ascii_letters + string.digits
    if resource.get("special", default=True):
        alphabet += resource.get("overrideSpecial", default="!@#$%&*()-_=+[]{}<>:?")
    return "".join(secrets.choice(alphabet) for _ in range(int(resource.get("length"))))


@dataclass
class PlannedSecrets:
    """Secret Manager as the plan fills it, with every RandomPassword freshly generated."""

    plan: Plan
    generated: dict[str, str] = field(init=False)  # mock result -> generated value
    #: The version number of a secret's one planned version (tools.offline's mock output);
    #: the containers reference it, never ``latest``.
    PINNED: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        self.generated = {
            f"mock-password-{r.name}": _generated(r)
            for r in self.plan.of_type("random:index/randomPassword:RandomPassword")
        }

    def real(self, value: str) -> str:
        """A planned value with each mock RandomPassword result replaced by its generated one."""
        for mock, value_ in self.generated.items():
            value = value.replace(mock, value_)
        return value

    def value(self, secret_id: str) -> str:
        """The value of ``secret_id``'s one planned version, :attr:`PINNED` (what Cloud Run
        injects for the containers' secret_key_ref)."""
        by_id = {s.get("secretId"): s for s in self.plan.of_type("gcp:secretmanager/secret:Secret")}
        if secret_id not in by_id:
            raise ContractError(f"the plan references secret {secret_id!r}, which it never creates")
        versions = [
            v
            for v in self.plan.of_type("gcp:secretmanager/secretVersion:SecretVersion")
            if v.get("secret") == f"{by_id[secret_id].name}-id"
        ]
        if len(versions) != 1:
            raise ContractError(f"secret {secret_id!r} has {len(versions)} planned versions")
        return self.real(str(versions[0].get("secretData")))

    def sql_users(self) -> dict[str, str]:
        return {
            u.get("name"): self.real(str(u.get("password")))
            for u in self.plan.of_type("gcp:sql/user:User")
        }


# -- the image ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    """The built image as Cloud Run runs it: its config (ENV, USER, WORKDIR) and root filesystem
    (built from the repository's Dockerfile by :mod:`tools.image`; each instance mounts it as the
    read-only lower layer of an overlay of its own)."""

    env: dict[str, str]
    workdir: str
    uid: int
    gid: int
    user_name: str
    user_home: str
    rootfs: Path
    tag: str = image_tool.IMAGE_TAG

    @classmethod
    def built(
        cls,
        context: Path = REPO_ROOT,
        tag: str = image_tool.IMAGE_TAG,
        dockerfile: Path | None = None,
    ) -> Image:
        """Build ``context``'s Dockerfile (buildah, cached layers) and check out its root fs."""
        return cls.from_built(image_tool.build(context, tag=tag, dockerfile=dockerfile))

    @classmethod
    def from_built(cls, built: image_tool.Built) -> Image:
        user = str(built.config.get("User") or "")
        uid, _, gid = user.partition(":")
        if not uid.isdigit() or int(uid) == 0 or (gid and not gid.isdigit()):
            raise ContractError(
                f"the image's USER is {user or 'unset (root)'!r}; Cloud Run needs a numeric uid:gid "
                "that is not 0 (the dev project volume is mounted as 10001:10001)"
            )
        rootfs = image_tool.rootfs(built)
        name, home = uid, built.config.get("WorkingDir") or "/"
        for line in (rootfs / "etc" / "passwd").read_text().splitlines():
            fields = line.split(":")
            if len(fields) >= 6 and fields[2] == uid:
                name, home = fields[0], fields[5]
                break
        return cls(
            env=built.env,
            workdir=built.config.get("WorkingDir") or "/",
            uid=int(uid),
            gid=int(gid or uid),
            user_name=name,
            user_home=home,
            rootfs=rootfs,
            tag=built.tag,
        )

    def path(self, inside: str) -> Path:
        """A path of the image (read-only: the shared checkout of its root filesystem)."""
        return self.rootfs / inside.lstrip("/")

    def which(self, command: str, path: str) -> str | None:
        """Where the image's ``PATH`` finds ``command`` (a path inside the image), or None."""
        for folder in path.split(":"):
            found = self.path(folder) / command
            if folder and (found.is_file() or found.is_symlink()) and os.access(found, os.X_OK):
                return f"{folder.rstrip('/')}/{command}"
        return None


# -- what outlives instances: the stand-ins and the one substitution list ----------------------


@dataclass
class Cloud:
    """The stand-in GCP a plan runs against (shared by every instance of a session)."""

    plan: Plan
    secrets: PlannedSecrets
    sql: CloudSqlStandIn
    twin_urls: dict[str, str]  # gcs, bigquery, files
    #: What Cloud Storage volumes hold (made on first mount): outlives every instance of this
    #: Cloud, as a bucket does; the ``cloud_factory`` fixture removes it.
    volumes_root: Path | None = None

    @property
    def private_ip(self) -> str:
        return self.plan.outputs["sql_private_ip"]


@dataclass(frozen=True)
class Substitution:
    """One env value that must differ here: ``planned`` (None: not planned) -> ``local``."""

    name: str
    why: str
    planned: Callable[[Cloud], str | None]
    local: Callable[[Cloud, str | None], str]


def _swap(old: Callable[[Cloud], str], new: Callable[[Cloud], str]):
    def apply(cloud: Cloud, value: str | None) -> str:
        if value is None or value.count(old(cloud)) != 1:
            raise ContractError(f"expected {old(cloud)!r} once in the planned value {value!r}")
        return value.replace(old(cloud), new(cloud))

    return apply


#: The only differences between the planned env and an instance's env here (docs/testing.md).
SUBSTITUTIONS: tuple[Substitution, ...] = (
    Substitution(
        "POSTGRES_HOST",
        "Cloud SQL's private IP -> the stand-in on loopback",
        lambda c: c.private_ip,
        lambda c, v: _swap(lambda c: c.private_ip, lambda c: HOST)(c, v),
    ),
    Substitution(
        "POSTGRES_PORT",
        "5432 -> the stand-in's free port",
        lambda c: "5432",
        lambda c, v: _swap(lambda c: "5432", lambda c: str(c.sql.port))(c, v),
    ),
    Substitution(
        "MAGE_DATABASE_CONNECTION_URL",
        "host:port inside Mage's URL secret -> the stand-in",
        lambda c: None,  # a secret: checked by the swap (exactly one '@<private ip>:5432/')
        lambda c, v: _swap(lambda c: f"@{c.private_ip}:5432/", lambda c: f"@{HOST}:{c.sql.port}/")(
            c, v
        ),
    ),
    Substitution(
        "TAXI_DATA_BASE_URL",
        "the public release URL -> the twin's file server (no internet here)",
        lambda c: None,
        lambda c, v: c.twin_urls["files"],
    ),
    Substitution(
        "STORAGE_EMULATOR_HOST",
        "added: Cloud Storage -> the twin's GCS emulator (ADC in the cloud)",
        lambda c: None,
        lambda c, v: c.twin_urls["gcs"],
    ),
    Substitution(
        "BIGQUERY_EMULATOR_HOST",
        "added: BigQuery -> the twin's BigQuery emulator (ADC in the cloud)",
        lambda c: None,
        lambda c, v: c.twin_urls["bigquery"],
    ),
)


def runtime_env(
    container: Container, image: Image, kind: str, name: str, task: TaskPosition | None = None
) -> dict[str, str]:
    """What the container runtime adds: HOME of the image's user, and Cloud Run's own variables
    (https://cloud.google.com/run/docs/container-contract#env-vars), a job's for ``task``."""
    env = {"HOME": image.user_home}
    if kind == "service":
        env |= {
            "PORT": str(container.port),
            "K_SERVICE": name,
            "K_REVISION": f"{name}-00001-abc",
            "K_CONFIGURATION": name,
        }
    else:
        task = task or TaskPosition()
        env |= {
            "CLOUD_RUN_JOB": name,
            "CLOUD_RUN_EXECUTION": f"{name}-abc12",
            "CLOUD_RUN_TASK_INDEX": str(task.index),
            "CLOUD_RUN_TASK_ATTEMPT": str(task.attempt),
            "CLOUD_RUN_TASK_COUNT": str(task.count),
        }
    return env


def cloud_env(
    cloud: Cloud, container: Container, image: Image, kind: str, task: TaskPosition | None = None
) -> dict[str, str]:
    """The env Cloud Run would give the container: image ENV < runtime < plan values + secrets."""
    runtime = runtime_env(container, image, kind, container.name, task)
    env = {**image.env, **runtime, **container.env}
    env |= {k: cloud.secrets.value(s) for k, s in container.secret_env.items()}
    return env


def instance_env(
    cloud: Cloud, container: Container, image: Image, kind: str, task: TaskPosition | None = None
) -> dict[str, str]:
    """:func:`cloud_env` with :data:`SUBSTITUTIONS` applied (and their planned values checked)."""
    env = cloud_env(cloud, container, image, kind, task)
    for sub in SUBSTITUTIONS:
        expected = sub.planned(cloud)
        if expected is not None and env.get(sub.name) != expected:
            raise ContractError(
                f"{container.resource}: planned {sub.name}={env.get(sub.name)!r}, but the "
                f"substitution '{sub.why}' expects {expected!r}"
            )
        if sub.name in env or sub.planned(cloud) is None:
            env[sub.name] = sub.local(cloud, env.get(sub.name))
    return env


def create_stack_storage(cloud: Cloud) -> None:
    """The stack's buckets and dataset in the twin's emulators (``pulumi up`` creates them)."""
    from google.api_core.client_options import ClientOptions
    from google.api_core.exceptions import Conflict
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    from twin.bigquery_api import create_dataset

    project = cloud.plan.config["gcp:project"]
    client = storage.Client(
        project=project,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=cloud.twin_urls["gcs"]),
    )
    for bucket in ("bucket", "state_bucket"):  # the lake, and Mage's logs/outputs/project
        with contextlib.suppress(Conflict):
            client.create_bucket(cloud.plan.outputs[bucket])
    create_dataset(cloud.twin_urls["bigquery"], project, cloud.plan.outputs["dataset"])


# -- instances ---------------------------------------------------------------------------------


#: Set to ``copy`` to give each instance a copy of the image instead of an overlay (what happens
#: by itself where the kernel refuses overlayfs; tests/cloudrun/test_image.py forces it).
INSTANCE_FS_ENV = "MAGE_GCP_INSTANCE_FS"


def overlay_instances() -> bool:
    """Whether instances get an overlay over the image (overlayfs mounts here), else a copy."""
    if os.environ.get(INSTANCE_FS_ENV) == "copy":
        return False
    return image_tool.storage_driver() == "overlay"


@dataclass
class Instance:
    """One container start: its own fresh filesystem, process and log."""

    cloud: Cloud
    container: Container
    kind: str  # "service" | "job"
    image: Image
    root: Path
    env: dict[str, str] = field(init=False)
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    #: The planned port's lock (:func:`hold_port`), held from start to stop.
    port_lock: IO[bytes] | None = field(default=None, repr=False)
    #: Which task of its execution a job instance is (the first of one, unless started by
    #: :func:`run_execution`).
    task: TaskPosition | None = None

    def __post_init__(self) -> None:
        self.env = instance_env(self.cloud, self.container, self.image, self.kind, self.task)

    @property
    def log_path(self) -> Path:
        return self.root / "container.log"

    @property
    def fs(self) -> Path:
        """The instance's root filesystem (its overlay over the image), as the host sees it."""
        return self.root / "fs"

    def _mounts(self) -> list[list[str]]:
        """A fresh root filesystem: an overlay whose lower layer is the image (shared, never
        written) and whose upper layer is this instance's (thrown away with it); ``/proc``,
        ``/dev``, ``/sys`` and the host's resolver files as a container runtime provides them;
        the planned Cloud Storage volumes at their mount paths."""
        fs, upper, work = self.fs, self.root / "upper", self.root / "work"
        for path in (fs, upper, work):
            path.mkdir()
        if overlay_instances():
            options = f"lowerdir={self.image.rootfs},upperdir={upper},workdir={work}"
            mounts = [["overlay", options, str(fs)]]
        else:  # no overlayfs here: a copy of the image per instance (about 6 s for 1.7 GB)
            mounts = [["copy", str(self.image.rootfs), str(fs)]]
        mounts += [["proc", "proc", str(fs / "proc")]]
        mounts += [["rbind", f"/{d}", str(fs / d)] for d in ("dev", "sys")]
        mounts += [["bind", f"/etc/{n}", str(fs / "etc" / n)] for n in ("resolv.conf", "hosts")]
        for volume in self.container.volumes:
            target = fs / volume.mount_path.lstrip("/")
            mounts.append(["bind", str(self.volume_dir(volume)), str(target)])
        return mounts

    def volume_dir(self, volume: GcsVolume) -> Path:
        """The stand-in of a Cloud Storage FUSE mount: a folder per bucket (and ``only-dir``)
        that every instance of the Cloud shares. Like gcsfuse it is owned by the ``uid``/``gid``
        mount options and has their ``dir-mode``; without them the mount is the mounting
        process's -- Cloud Run's, not the container user's -- so it is root's, 0755
        (https://cloud.google.com/storage/docs/cloud-storage-fuse/cli-options: --uid, --gid,
        --dir-mode). gcsfuse's own semantics (no locking, no atomic rename) are not modelled."""
        if self.cloud.volumes_root is None:
            self.cloud.volumes_root = Path(tempfile.mkdtemp(prefix="gcs-volumes-", dir="/tmp"))
        root = self.cloud.volumes_root
        path = root / volume.bucket / (volume.option("only-dir") or "")
        path.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents:  # the user traverses to the mount point
            (root / parent).chmod(0o755)
        uid, gid = (int(volume.option(k) or 0) for k in ("uid", "gid"))
        os.chown(path, uid, gid)
        path.chmod(int(volume.option("dir-mode") or "755", 8))
        return path

    def start(self) -> Instance:
        if self.container.port:
            self.port_lock = hold_port(self.container.port)
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> Instance:
        spec = {
            "mounts": self._mounts(),
            "root": str(self.fs),
            "uid": self.image.uid,
            "gid": self.image.gid,
            "cwd": self.container.working_dir or self.image.workdir,
            "argv": self.container.argv,
            "env": self.env,
        }
        spec_path = self.root / "spec.json"
        spec_path.write_text(json.dumps(spec))
        command = ["unshare", "--mount", "--propagation", "private", "--",
                   sys.executable, str(ENTER), str(spec_path)]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, start_new_session=True,
            )  # fmt: skip
        self.started_at = time.monotonic()
        return self

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise ContractError(
                f"{self.container.resource} ran longer than {timeout} s; log: {self.log_path}"
            ) from None

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc.pid, leader=self.proc, timeout=20)
        if self.port_lock is not None:
            self.port_lock.close()  # releases the flock
            self.port_lock = None

    def log(self, tail: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:] if self.log_path.exists() else ""

    def wait_exec(self, timeout: float = 30.0) -> None:
        """Wait until the launcher has exec'd the planned command (same pid, new image)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ContractError(f"{self.container.resource} exited early:\n{self.log()}")
            try:
                cmdline = self.proc_cmdline()  # empty for an instant during execve
                if cmdline and cmdline[0] != "unshare" and str(ENTER) not in cmdline:
                    return
            except (FileNotFoundError, ProcessLookupError):
                pass
            time.sleep(0.05)
        raise ContractError(f"{self.container.resource} did not start in {timeout} s")

    # what the kernel says about the running process (not what we asked for)
    def proc_env(self) -> dict[str, str]:
        assert self.proc is not None
        raw = Path(f"/proc/{self.proc.pid}/environ").read_bytes()
        return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)

    def proc_ids(self) -> tuple[list[int], list[int]]:
        assert self.proc is not None
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
        gids = re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split()
        return [int(u) for u in uids], [int(g) for g in gids]

    def proc_cmdline(self) -> list[str]:
        assert self.proc is not None
        return Path(f"/proc/{self.proc.pid}/cmdline").read_bytes().decode().split("\0")[:-1]

    def proc_cwd(self) -> str:
        """The process's working directory inside its root filesystem."""
        assert self.proc is not None
        cwd = os.readlink(f"/proc/{self.proc.pid}/cwd")
        inside = Path(cwd)
        return "/" + str(inside.relative_to(self.fs)) if inside.is_relative_to(self.fs) else cwd

    def url(self, path: str = "/") -> str:
        return f"http://{HOST}:{self.container.port}{path}"


def hold_port(port: int, timeout: float = 900.0) -> IO[bytes]:
    """An exclusive lock on the planned container port, held until the instance stops: the UI
    binds it on the host's loopback (no network namespace), and `make test` runs test files on
    several pytest-xdist workers at once, so UI instances of different files take turns."""
    handle = open(Path(tempfile.gettempdir()) / f"mage-gcp-cloudrun-port-{port}.lock", "wb")  # noqa: SIM115
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                handle.close()
                raise ContractError(
                    f"port {port} stayed taken by another instance for {timeout:.0f} s"
                ) from None
            time.sleep(0.5)


def start_instance(cloud: Cloud, name: str, root: Path, image: Image | None = None) -> Instance:
    """Start the planned container ``name`` ("ui" or a pipeline) on a fresh filesystem in a new
    directory under ``root`` (one per start: nothing an earlier instance wrote is there)."""
    container = planned_containers(cloud.plan)[name]
    kind = "service" if name == "ui" else "job"
    fresh = Path(tempfile.mkdtemp(prefix=f"{container.name}-", dir=root))
    return Instance(cloud, container, kind, image or Image.built(), fresh).start()


def overridden(container: Container, overrides: dict) -> Container:
    """The job's container as an execution started with ``overrides`` runs it: the container
    override's ``env`` merged over the planned env, its ``args`` replacing the planned ones
    (``clearArgs`` empties them), ``taskCount`` replacing the job's
    (https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.jobs/run#overrides)."""
    unknown = set(overrides) - {"containerOverrides", "taskCount", "timeout"}
    if unknown:
        raise ContractError(f"the Run API has no execution override {sorted(unknown)}")
    changes: dict[str, Any] = {}
    if "taskCount" in overrides:
        changes["task_count"] = int(overrides["taskCount"])
    for override in overrides.get("containerOverrides") or []:
        if override.get("name") not in (None, "", container.name):
            raise ContractError(f"a container override names {override['name']!r}, not a container")
        env = {}
        for entry in override.get("env") or []:
            if "value" not in entry:
                raise ContractError(f"the override of {entry.get('name')} sets no value")
            env[entry["name"]] = str(entry["value"])
        changes["env"] = {**container.env, **env}
        if override.get("clearArgs"):
            changes["args"] = []
        elif override.get("args"):
            changes["args"] = list(override["args"])
    return replace(container, **changes)


def run_execution(
    cloud: Cloud,
    name: str,
    root: Path,
    overrides: dict,
    image: Image | None = None,
    timeout: float = 600.0,
) -> list[Instance]:
    """One execution of the planned job ``name`` as ``jobs.run`` with ``overrides`` starts it:
    ``taskCount`` tasks, at most the job's ``parallelism`` at once, each on a fresh filesystem
    with its task index, and a task that exits non-zero started again (attempt + 1) up to the
    job's ``maxRetries`` (https://cloud.google.com/run/docs/configuring/max-retries). Returns
    each task's last attempt, by index."""
    container = overridden(planned_containers(cloud.plan)[name], overrides)
    if container.task_count is None:
        raise ContractError(f"{name} is not a job")
    image = image or Image.built()
    count, retries = container.task_count, container.max_retries or 0
    attempts = dict.fromkeys(range(count), 0)
    waiting, running, ended = list(range(count)), {}, {}
    deadline = time.monotonic() + timeout
    try:
        while waiting or running:
            while waiting and len(running) < (container.parallelism or count):
                index = waiting.pop(0)
                fresh = Path(tempfile.mkdtemp(prefix=f"{container.name}-{index}-", dir=root))
                task = TaskPosition(index, count, attempts[index])
                running[index] = Instance(cloud, container, "job", image, fresh, task=task).start()
            for index, instance in list(running.items()):
                if instance.returncode is None:
                    continue
                del running[index]
                if instance.returncode != 0 and attempts[index] < retries:
                    attempts[index] += 1
                    waiting.insert(0, index)
                else:
                    ended[index] = instance
            if time.monotonic() > deadline:
                raise ContractError(f"the {name} execution ran longer than {timeout:.0f} s")
            time.sleep(0.2)
    finally:
        for instance in running.values():
            instance.stop()
    return [ended[i] for i in range(count)]


def start_ui_instance(cloud: Cloud, root: Path, image: Image | None = None) -> Instance:
    """The UI service's container, started and past its planned HTTP startup probe."""
    instance = start_instance(cloud, "ui", root, image)
    try:
        wait_for_startup_probe(instance)
    except BaseException:
        instance.stop()
        raise
    return instance


def restart(instance: Instance) -> Instance:
    """Cloud Run replacing an instance: stop it, throw its filesystem away, start a new one."""
    instance.stop()
    shutil.rmtree(instance.root, ignore_errors=True)
    fresh = start_instance(instance.cloud, _key(instance), instance.root.parent, instance.image)
    if fresh.kind == "service":
        wait_for_startup_probe(fresh)
    return fresh


def _key(instance: Instance) -> str:
    if instance.kind == "service":
        return "ui"
    return next(
        k for k, c in planned_containers(instance.cloud.plan).items() if c == instance.container
    )


def run_job(cloud: Cloud, pipeline: str, root: Path, timeout: float = 300.0) -> Instance:
    """Run the pipeline's planned job to its end (one task); ``.returncode`` and ``.log()``."""
    instance = start_instance(cloud, pipeline, root)
    instance.wait(timeout)
    return instance


def http_get(url: str, timeout: float, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


#: The client id of Mage's own front end (mage_ai/settings/server.py): public, in its JS bundle.
MAGE_FRONTEND_API_KEY = "zkWlN0PkIKSN0C11CfUHUj84OT5XOJ6tDZ6bDRO2"


class MageApi:
    """Mage's REST API as its front end calls it: ``X-API-KEY`` plus, once signed in, the
    OAuth token (``sign_in``)."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.token: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {"X-API-KEY": MAGE_FRONTEND_API_KEY, "Content-Type": "application/json"}
        if self.token:
            headers["OAUTH-TOKEN"] = self.token
        return headers

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(
            self.instance.url(path),
            data=json.dumps({**(body or {}), "api_key": MAGE_FRONTEND_API_KEY}).encode()
            if method != "GET"
            else None,
            headers=self.headers(),
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def sign_in(self, email: str, password: str) -> MageApi:
        status, body = self.call(
            "POST", "/api/sessions", {"session": {"email": email, "password": password}}
        )
        token = (body.get("session") or {}).get("token")
        if status != 200 or not token:
            raise ContractError(f"sign-in as {email} failed ({status}): {body.get('error')}")
        import jwt  # PyJWT, as Mage uses it (mage_ai/authentication/oauth2.py)

        # Mage signs with the instance's JWT_SECRET (a generated secret, not its public default).
        secret = self.instance.env.get("JWT_SECRET", "materia")
        self.token = jwt.decode(token, key=secret, algorithms=["HS256"])["token"]
        return self


def owner_api(cloud: Cloud, instance: Instance) -> MageApi:
    """Mage's API signed in as the planned owner (e-mail and generated password)."""
    password = cloud.secrets.value(instance.container.secret_env["DEFAULT_OWNER_PASSWORD"])
    return MageApi(instance).sign_in(instance.env["DEFAULT_OWNER_EMAIL"], password)


def probe_budget(probe: dict) -> float:
    """Seconds Cloud Run waits for a startup probe: initial delay + failure threshold x period
    (https://cloud.google.com/run/docs/configuring/healthchecks#startup-probes)."""
    return probe.get("initialDelaySeconds", 0) + probe.get("failureThreshold", 3) * probe.get(
        "periodSeconds", 10
    )


def wait_for_startup_probe(instance: Instance) -> float:
    """Seconds until the planned HTTP startup probe succeeded (2xx/3xx) on the planned port."""
    probe = instance.container.startup_probe or {}
    http = probe.get("httpGet")
    if not http:
        kind = next((k for k in ("tcpSocket", "grpc") if k in probe), "no")
        raise ContractError(
            f"{instance.container.resource} plans a {kind} startup probe; Cloud Run must probe an "
            "HTTP path that answers only when Mage can serve (a TCP probe passes while it starts)"
        )
    port = http.get("port") or instance.container.port
    url = f"http://{HOST}:{port}{http.get('path', '/')}"
    budget = probe_budget(probe)
    timeout = probe.get("timeoutSeconds", 1)
    while (elapsed := time.monotonic() - instance.started_at) < budget:
        if instance.proc is not None and instance.proc.poll() is not None:
            raise ContractError(
                f"{instance.container.resource} exited ({instance.proc.returncode}) before its "
                f"startup probe passed; log tail:\n{instance.log()}"
            )
        try:
            status, _ = http_get(url, timeout)
            if 200 <= status < 400:
                return elapsed
        except OSError:
            pass
        time.sleep(0.5)
    raise ContractError(
        f"{url} did not answer within the startup probe budget of {budget} s; log tail:\n"
        f"{instance.log()}"
    )


@dataclass(frozen=True)
class ColdStart:
    """Seconds from the container's start (the image already on the host: Cloud Run's pull aside)
    to each phase of the UI's start."""

    runner: float  # `mage_runner start` prepared the instance and exec'd `mage start`
    probe: float  # the planned startup probe passed (Cloud Run routes requests from here)
    first_page: float  # the UI's first page (/) answered 200

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 2) for k, v in vars(self).items()}


def cold_start(instance: Instance, timeout: float = 300.0) -> ColdStart:
    """Watch a just-started UI instance through its phases (polling /proc and HTTP every
    50 ms): the runner's exec into Mage, the planned startup probe, the first page."""
    probe = instance.container.startup_probe or {}
    path = (probe.get("httpGet") or {}).get("path", "/")
    marks: dict[str, float] = {}
    deadline = instance.started_at + timeout
    while time.monotonic() < deadline and len(marks) < 3:
        now = time.monotonic() - instance.started_at
        if instance.returncode is not None:
            raise ContractError(f"the UI exited ({instance.returncode}):\n{instance.log()}")
        if "runner" not in marks:
            with contextlib.suppress(OSError, AssertionError):
                cmdline = instance.proc_cmdline()
                if "mage_runner" not in cmdline and any(p.endswith("/mage") for p in cmdline):
                    marks["runner"] = now
        for name, url_path in (("probe", path), ("first_page", "/")):
            if name not in marks:
                with contextlib.suppress(OSError):
                    if 200 <= http_get(instance.url(url_path), 2)[0] < 400:
                        marks[name] = time.monotonic() - instance.started_at
        time.sleep(0.05)
    if len(marks) < 3:
        raise ContractError(
            f"the UI did not pass {sorted({'runner', 'probe', 'first_page'} - set(marks))} in {timeout:.0f} s"
        )
    return ColdStart(**marks)
