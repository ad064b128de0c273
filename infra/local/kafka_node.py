"""A real Apache Kafka broker (KRaft, broker+controller in one JVM) on loopback.

The jars come from Maven Central through ``infra/local/kafka/pom.xml``; no Docker, no tarball.
State lives under ``<state_dir>/kafka``: ``data/`` (log dirs), ``server.properties``,
``broker.log`` and ``broker.pid``. Besides its PLAINTEXT listener, a broker can be given secured
ones (``SecureListeners``: SASL_SSL with SCRAM-SHA-512 and PLAIN users, and SSL that asks for a
client certificate), so that clients' SASL and TLS settings are tested against a real broker.
Jars live under ``<cache_dir>/kafka-<pom hash>/``, shared by every clone and state directory on the machine.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka.admin import AdminClient

from connectors.kafka.security import librdkafka_client
from infra.core.processes import (
    port_accepts,
    process_cmdline,
    read_pid,
    require_tool,
    spawn_detached,
    stop_process_group,
    tail,
)
from infra.core.settings import LOOPBACK_HOSTS, Settings
from streams.deadlines import wait_until
from streams.errors import ConfigurationError, InfraError, PortInUseError, StartTimeoutError

POM = Path(__file__).with_name("kafka") / "pom.xml"
MAIN_CLASS = "kafka.Kafka"
# Partitions of topics Kafka creates itself (Faust's internal topics ask for theirs explicitly).
DEFAULT_PARTITIONS = 6

_JAVA_HINT = "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)"
_MAVEN_HINT = "install Maven to fetch the Kafka jars (Debian: apt-get install maven)"


@dataclass(frozen=True, slots=True)
class KafkaStatus:
    bootstrap: str
    answering: bool
    pid: int | None  # set when the broker is one crmbus started
    log_file: Path


@dataclass(frozen=True, slots=True)
class SecureListeners:
    """Secured listeners on 127.0.0.1, besides the PLAINTEXT one the readiness check uses.

    ``keystore_file`` holds the broker's private key and certificate chain (PEM), ``truststore_file``
    the CA certificates (PEM) that client certificates must chain to. Every user in ``users`` can log
    in with SCRAM-SHA-512 and with PLAIN (created when the storage is first formatted)."""

    keystore_file: Path
    truststore_file: Path
    sasl_ssl_port: int
    mtls_port: int
    users: Mapping[str, str] = field(repr=False)


_SCRAM = "SCRAM-SHA-512"


class LocalKafka:
    """Start, stop and inspect the single-node broker crmbus runs for development and tests."""

    def __init__(self, settings: Settings, secure: SecureListeners | None = None) -> None:
        self.settings = settings
        self.secure = secure
        self.home = settings.state_path / "kafka"
        self.pom_hash = hashlib.sha256(POM.read_bytes()).hexdigest()
        self.libs = settings.cache_dir.expanduser().resolve() / f"kafka-{self.pom_hash[:12]}"
        self.data = self.home / "data"
        self.properties = self.home / "server.properties"
        self.log_file = self.home / "broker.log"
        self.pid_file = self.home / "broker.pid"
        self.host, self.port = self._loopback_address(settings.kafka_bootstrap)

    @staticmethod
    def _loopback_address(bootstrap: str) -> tuple[str, int]:
        host, _, port = bootstrap.rpartition(":")
        if "," in bootstrap or host not in LOOPBACK_HOSTS or not port.isdigit():
            raise ConfigurationError(
                f"CRMBUS_KAFKA_BOOTSTRAP={bootstrap!r} is not one loopback address: "
                "crmbus only runs a local broker on 127.0.0.1; point it at yours instead"
            )
        return host, int(port)

    # -- jars -----------------------------------------------------------------------------
    def ensure_jars(self) -> Path:
        """Resolve the broker's jars into the cache once per version of the pom."""
        marker = self.libs / ".resolved-from"
        if marker.is_file() and marker.read_text() == self.pom_hash:
            return self.libs
        require_tool("java", _JAVA_HINT)
        mvn = require_tool("mvn", _MAVEN_HINT)
        staging = self.libs.with_name(self.libs.name + f".partial-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        result = subprocess.run(
            [mvn, "-B", "-q", "-f", str(POM), "dependency:copy-dependencies", f"-Dcrmbus.libs={staging}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise InfraError(f"mvn could not resolve the Kafka jars:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        (staging / ".resolved-from").write_text(self.pom_hash)
        shutil.rmtree(self.libs, ignore_errors=True)
        staging.rename(self.libs)  # atomic: a half-resolved folder is never taken for the cache
        return self.libs

    # -- lifecycle ------------------------------------------------------------------------
    def answers(self, timeout_s: float = 2.0) -> bool:
        """Whether a broker at the bootstrap address answers a metadata request."""
        admin = AdminClient({**librdkafka_client(self.settings), "log_level": 0})
        try:
            admin.list_topics(timeout=timeout_s)
        except Exception:  # noqa: BLE001 - KafkaException or a timeout: either way, not answering
            return False
        return True

    def our_pid(self) -> int | None:
        """The pid of the broker crmbus started, if it is still that process."""
        pid = read_pid(self.pid_file)
        if pid is None:
            return None
        cmdline = process_cmdline(pid)
        if cmdline is None or MAIN_CLASS not in cmdline or str(self.properties) not in cmdline:
            return None
        return pid

    def up(self) -> bool:
        """Make a broker answer at the bootstrap address; True when this call started it."""
        if self.answers():
            return False
        running = self.our_pid()
        for port in (self.port, self.settings.kafka_controller_port):
            if running is None and port_accepts(self.host, port):
                raise PortInUseError(
                    f"port {port} on {self.host} is taken by a process that is not a crmbus broker; "
                    "stop it or set CRMBUS_KAFKA_BOOTSTRAP / CRMBUS_KAFKA_CONTROLLER_PORT"
                )
        java = require_tool("java", _JAVA_HINT)
        self.ensure_jars()
        self.home.mkdir(parents=True, exist_ok=True)
        self._write_config()
        self._format_storage(java)
        pid = running or self._start(java)

        def ready() -> bool:
            if process_cmdline(pid) is None:
                self.pid_file.unlink(missing_ok=True)
                raise InfraError(
                    f"the Kafka broker exited during start-up; see {self.log_file}:\n{tail(self.log_file)}"
                )
            return self.answers(timeout_s=1.0)

        try:
            wait_until(ready, self.settings.kafka_start_timeout_s, "Kafka broker")
        except StartTimeoutError:
            stop_process_group(pid, timeout_s=10)
            self.pid_file.unlink(missing_ok=True)
            raise StartTimeoutError(
                f"Kafka did not answer on {self.settings.kafka_bootstrap} within "
                f"{self.settings.kafka_start_timeout_s:.0f} s; see {self.log_file}:\n{tail(self.log_file)}"
            ) from None
        return True

    def down(self) -> bool:
        """Stop the broker crmbus started; True when one was running."""
        pid = self.our_pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        stop_process_group(pid, timeout_s=30)
        return True

    def status(self) -> KafkaStatus:
        return KafkaStatus(self.settings.kafka_bootstrap, self.answers(), self.our_pid(), self.log_file)

    # -- details --------------------------------------------------------------------------
    def _write_config(self) -> None:
        controller = f"127.0.0.1:{self.settings.kafka_controller_port}"
        lines = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{controller}",
            "listeners": f"PLAINTEXT://{self.host}:{self.port},CONTROLLER://{controller}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data),
            **self._secure_config(),
            # Topics come from the catalogue: a typo in a topic name must fail, not create a topic.
            "auto.create.topics.enable": "false",
            "num.partitions": str(DEFAULT_PARTITIONS),
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "12",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "6",
            "group.initial.rebalance.delay.ms": "0",
            # Sized for two cores.
            "num.network.threads": "2",
            "num.io.threads": "4",
            "background.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
        }
        self.properties.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        (self.home / "log4j.properties").write_text(
            "log4j.rootLogger=INFO, stdout\n"
            "log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
            "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
            "log4j.logger.kafka.request.logger=WARN\n"
            "log4j.logger.state.change.logger=WARN\n"
            # Per-partition and per-config INFO lines: gigabytes when tests create and drop topics.
            "log4j.logger.org.apache.kafka.controller.ReplicationControlManager=WARN\n"
            "log4j.logger.org.apache.kafka.controller.ConfigurationControlManager=WARN\n"
            "log4j.logger.kafka.server.metadata.DynamicConfigPublisher=WARN\n"
            "log4j.logger.kafka.log=WARN\n"
            "log4j.logger.kafka.cluster.Partition=WARN\n"
            "log4j.logger.org.apache.kafka.storage.internals.log=WARN\n"
        )

    def _secure_config(self) -> dict[str, str]:
        """The secured listeners' lines, replacing and extending the PLAINTEXT-only ones."""
        secure = self.secure
        if secure is None:
            return {}
        controller = f"127.0.0.1:{self.settings.kafka_controller_port}"
        plain = f"PLAINTEXT://{self.host}:{self.port}"
        sasl_ssl = f"SASL_SSL://127.0.0.1:{secure.sasl_ssl_port}"
        mtls = f"MTLS://127.0.0.1:{secure.mtls_port}"
        plain_users = " ".join(f'user_{name}="{password}"' for name, password in secure.users.items())
        return {
            "listeners": f"{plain},{sasl_ssl},{mtls},CONTROLLER://{controller}",
            "advertised.listeners": f"{plain},{sasl_ssl},{mtls}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,MTLS:SSL,CONTROLLER:PLAINTEXT",
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(secure.keystore_file),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(secure.truststore_file),
            "listener.name.mtls.ssl.client.auth": "required",
            "sasl.enabled.mechanisms": f"PLAIN,{_SCRAM}",
            "listener.name.sasl_ssl.plain.sasl.jaas.config": (
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};"
            ),
            f"listener.name.sasl_ssl.{_SCRAM.lower()}.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
        }

    def _scram_users(self) -> list[str]:
        """``StorageTool format`` arguments creating the SCRAM users in the cluster's first metadata."""
        users = self.secure.users if self.secure is not None else {}
        return [arg for name, pw in users.items() for arg in ("--add-scram", f"{_SCRAM}=[name={name},password={pw}]")]

    def _classpath(self) -> str:
        return f"{self.libs}/*"

    def _format_storage(self, java: str) -> None:
        if (self.data / "meta.properties").is_file():
            return
        tool = [java, "-cp", self._classpath(), "kafka.tools.StorageTool"]
        cluster_id = subprocess.run([*tool, "random-uuid"], capture_output=True, text=True, check=True).stdout.strip()
        result = subprocess.run(
            [*tool, "format", "-t", cluster_id, "-c", str(self.properties), "--ignore-formatted", *self._scram_users()],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise InfraError(f"formatting KRaft storage in {self.data} failed:\n{result.stdout}{result.stderr}")

    def _start(self, java: str) -> int:
        heap = self.settings.kafka_heap_mb
        command = [
            java,
            f"-Xms{min(heap, 512)}m",
            f"-Xmx{heap}m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.home / 'log4j.properties'}",
            "-cp",
            self._classpath(),
            MAIN_CLASS,
            str(self.properties),
        ]
        pid = spawn_detached(command, self.log_file)
        self.pid_file.write_text(str(pid))
        return pid
