"""A PostgreSQL cluster crmbus owns (own data directory, own loopback port).

Used only when ``CRMBUS_DATABASE_URL`` is unset and nothing answers at the default URL.
Debian's ``postgresql`` package is installed when missing (root only). PostgreSQL refuses
to run as root, so as root every server command runs as the ``postgres`` system user.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg

from infra.core.processes import process_cmdline, require_tool, tail
from infra.core.settings import LOOPBACK_HOSTS, Settings
from infra.db.engine import database_url
from streams.errors import InfraError, MissingToolError, ServiceUnreachableError, StartTimeoutError

_SERVER_USER = "postgres"


@dataclass(frozen=True, slots=True)
class PostgresStatus:
    url: str  # password masked
    answering: bool
    data_dir: Path
    running_here: bool
    log_file: Path


def _installed_binaries() -> Path | None:
    """The bin directory of the newest PostgreSQL Debian has installed, if any."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


def _as_root() -> bool:
    return os.geteuid() == 0


def _server_user_can_reach(directory: Path) -> bool:
    """Whether the ``postgres`` user can enter the nearest existing ancestor of ``directory``."""
    existing = next(p for p in (directory, *directory.parents) if p.exists())
    probe = subprocess.run(["runuser", "-u", _SERVER_USER, "--", "test", "-x", str(existing)], check=False)
    return probe.returncode == 0


class LocalPostgres:
    """Install, initialise, start and stop crmbus's own PostgreSQL cluster."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = database_url(settings)
        self.home = self._choose_home(settings)
        self.data = self.home / "data"
        self.log_file = self.home / "postgres.log"

    def _choose_home(self, settings: Settings) -> Path:
        if settings.postgres_data_dir is not None:
            return settings.postgres_data_dir.resolve()
        home = settings.state_path / "postgres"
        if _as_root() and not _server_user_can_reach(home):
            # A clone under a private directory (/root/..., a mktemp -d): the server user cannot
            # enter it. The cluster lives under /var/tmp instead, in a home of this state directory's
            # own, so that 'crmbus down' from another state directory never stops it.
            owner = hashlib.sha256(str(settings.state_path.resolve()).encode()).hexdigest()[:12]
            return Path("/var/tmp/crmbus") / f"postgres-{self.url.port or 5432}-{owner}"  # noqa: S108 - root-owned
        return home

    # -- probing ---------------------------------------------------------------------------
    def _conninfo(self, dbname: str | None = None) -> str:
        return psycopg.conninfo.make_conninfo(
            host=self.url.host or "127.0.0.1",
            port=self.url.port or 5432,
            user=self.url.username or "",
            password=self.url.password or "",
            dbname=dbname or self.url.database or "postgres",
            connect_timeout=2,
        )

    def answers(self, dbname: str | None = None) -> bool:
        """Whether the server at the configured URL accepts our login (to ``dbname``)."""
        try:
            with psycopg.connect(self._conninfo(dbname)):
                return True
        except psycopg.OperationalError:
            return False

    def status(self) -> PostgresStatus:
        bindir = _installed_binaries()
        return PostgresStatus(
            url=self.url.render_as_string(hide_password=True),
            answering=self.answers(),
            data_dir=self.data,
            running_here=bindir is not None and (self.data / "PG_VERSION").is_file() and self._running(bindir),
            log_file=self.log_file,
        )

    def our_pid(self) -> int | None:
        """The pid of the postmaster of crmbus's own cluster while it runs on the configured port
        (every backend is its child), else None: a cluster elsewhere, a pid file left by a crash."""
        try:
            first = (self.data / "postmaster.pid").read_text().split("\n", 1)[0]
            pid = int(first)
        except (OSError, ValueError):
            return None
        cmdline = process_cmdline(pid)
        if cmdline is None:
            return None
        ours = f"-D {self.data} " in f"{cmdline} " and f"-p {self.url.port or 5432} " in f"{cmdline} "
        return pid if ours else None

    # -- lifecycle -------------------------------------------------------------------------
    def up(self) -> bool:
        """Make the configured database answer; True when this call started a cluster."""
        if self.answers():
            return False
        ours = not self.settings.is_set("database_url") or self.settings.is_set("postgres_data_dir")
        if not ours or self.url.host not in LOOPBACK_HOSTS:
            raise ServiceUnreachableError(
                f"PostgreSQL at {self.url.render_as_string(hide_password=True)} does not answer; crmbus only "
                "runs its own cluster when CRMBUS_DATABASE_URL is unset or CRMBUS_POSTGRES_DATA_DIR is set"
            )
        bindir = self._binaries()
        self._prepare_home()
        if not (self.data / "PG_VERSION").is_file():
            self._initdb(bindir)
        started = not self._running(bindir)
        if started:
            self._pg_ctl(bindir, "start")
        self._ensure_database()
        return started

    def down(self) -> bool:
        """Stop the cluster crmbus started; True when one was running."""
        if not (self.data / "PG_VERSION").is_file():
            return False
        bindir = self._binaries()
        if not self._running(bindir):
            return False
        self._pg_ctl(bindir, "stop")
        return True

    # -- details ---------------------------------------------------------------------------
    def _binaries(self) -> Path:
        bindir = _installed_binaries()
        if bindir is None:
            self._install()
            bindir = _installed_binaries()
        if bindir is None:
            raise MissingToolError("PostgreSQL server binaries not found after installing 'postgresql'")
        return bindir

    def _install(self) -> None:
        if not _as_root():
            raise MissingToolError(
                "PostgreSQL is not installed and installing it needs root: "
                "run 'sudo apt-get install postgresql', or set CRMBUS_DATABASE_URL to a server you have"
            )
        apt = require_tool("apt-get", "PostgreSQL is installed from Debian's packages")
        # Debian would otherwise create and start a 'main' cluster on 5432 that nobody asked for.
        conf = Path("/etc/postgresql-common/createcluster.conf")
        if not conf.exists():
            conf.parent.mkdir(parents=True, exist_ok=True)
            conf.write_text("create_main_cluster = false\n")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for step in ([apt, "-qq", "update"], [apt, "-qq", "-y", "install", "postgresql"]):
            result = subprocess.run(step, capture_output=True, text=True, env=env, check=False)
            if result.returncode != 0:
                raise MissingToolError(f"{' '.join(step)} failed:\n{result.stderr[-2000:]}")

    def _prepare_home(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        if not _as_root():
            return
        shutil.chown(self.home, user=_SERVER_USER, group=_SERVER_USER)
        if not _server_user_can_reach(self.home):
            raise InfraError(
                f"the '{_SERVER_USER}' user cannot reach {self.home} (a parent directory is private); "
                "set CRMBUS_POSTGRES_DATA_DIR to a directory it can reach, e.g. /var/tmp/crmbus-postgres"
            )

    def _run(self, command: list[str]) -> subprocess.CompletedProcess[str]:
        if _as_root():
            command = ["runuser", "-u", _SERVER_USER, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=False, cwd=self.home)

    def _initdb(self, bindir: Path) -> None:
        password_file = self.home / ".initdb-password"
        password_file.write_text(self.url.password or "")
        password_file.chmod(0o600)
        if _as_root():
            shutil.chown(password_file, user=_SERVER_USER, group=_SERVER_USER)
        try:
            result = self._run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    self.url.username or "postgres",
                    f"--pwfile={password_file}",
                    "--auth=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ]
            )
        finally:
            password_file.unlink(missing_ok=True)
        if result.returncode != 0:
            raise InfraError(f"initdb failed in {self.data}:\n{result.stderr[-2000:]}")
        with (self.data / "postgresql.conf").open("a") as conf:
            # TCP on loopback only; no Unix socket, whose default directory may not exist here.
            conf.write(
                "\n# crmbus\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
                "max_connections = 200\nshared_buffers = 128MB\n"
            )

    def _running(self, bindir: Path) -> bool:
        # pg_ctl status checks the postmaster.pid it finds against a live process: a pid file
        # left by a crash or a reboot does not count as running.
        return self._run([str(bindir / "pg_ctl"), "-D", str(self.data), "status"]).returncode == 0

    def _pg_ctl(self, bindir: Path, action: str) -> None:
        timeout = str(int(self.settings.postgres_start_timeout_s))
        command = [str(bindir / "pg_ctl"), "-D", str(self.data), "-w", "-t", timeout]
        if action == "start":
            command += ["-l", str(self.log_file), "-o", f"-p {self.url.port or 5432}", "start"]
        else:
            command += ["-m", "fast", "stop"]
        result = self._run(command)
        if result.returncode != 0:
            raise StartTimeoutError(
                f"pg_ctl {action} failed; see {self.log_file}:\n{result.stderr.strip()}\n{tail(self.log_file)}"
            )

    def _ensure_database(self) -> None:
        database = self.url.database or "postgres"
        if self.answers(database):
            return
        with psycopg.connect(self._conninfo("postgres"), autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(database)))
        if not self.answers(database):
            raise ServiceUnreachableError(f"created database {database!r} but cannot log in to it")
