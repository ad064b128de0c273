"""Where crmbus keeps its own PostgreSQL cluster, and so which cluster 'crmbus down' may stop."""

from pathlib import Path

import pytest

from infra.core.settings import Settings
from infra.local import postgres_node
from infra.local.postgres_node import LocalPostgres


@pytest.fixture
def private_state(monkeypatch):
    """Run as root, with state directories the server user cannot enter (a mktemp -d, /root/...)."""
    monkeypatch.setattr(postgres_node, "_as_root", lambda: True)
    monkeypatch.setattr(postgres_node, "_server_user_can_reach", lambda directory: False)


def test_a_reachable_state_directory_holds_the_cluster(monkeypatch, tmp_path):
    monkeypatch.setattr(postgres_node, "_as_root", lambda: True)
    monkeypatch.setattr(postgres_node, "_server_user_can_reach", lambda directory: True)
    assert LocalPostgres(Settings(state_dir=tmp_path)).home == tmp_path / "postgres"


def test_a_private_state_directory_keeps_its_cluster_under_var_tmp(private_state, tmp_path):
    home = LocalPostgres(Settings(state_dir=tmp_path)).home
    assert home.parent == Path("/var/tmp/crmbus")
    assert home.name.startswith("postgres-15432-")


def test_the_same_state_directory_finds_the_same_cluster_again(private_state, tmp_path):
    assert LocalPostgres(Settings(state_dir=tmp_path)).home == LocalPostgres(Settings(state_dir=tmp_path)).home


def test_two_private_state_directories_never_share_a_cluster_so_one_down_cannot_stop_the_other(private_state, tmp_path):
    first = LocalPostgres(Settings(state_dir=tmp_path / "ci")).home
    second = LocalPostgres(Settings(state_dir=tmp_path / "a-test-run-of-crmbus-up")).home
    assert first != second


def test_a_pid_file_left_by_a_crash_names_no_cluster_of_ours(tmp_path):
    node = LocalPostgres(Settings(postgres_data_dir=tmp_path))
    node.data.mkdir(parents=True)
    (node.data / "postmaster.pid").write_text("1\n/elsewhere\n")  # pid 1 is init, not a postmaster of ours
    assert node.our_pid() is None


def test_a_running_postmaster_of_another_port_is_not_ours(tmp_path, monkeypatch):
    node = LocalPostgres(Settings(postgres_data_dir=tmp_path))
    node.data.mkdir(parents=True)
    (node.data / "postmaster.pid").write_text("4242\n")
    monkeypatch.setattr(postgres_node, "process_cmdline", lambda pid: f"postgres -D {node.data} -p 1 ")
    assert node.our_pid() is None
    monkeypatch.setattr(postgres_node, "process_cmdline", lambda pid: f"postgres -D {node.data} -p {node.url.port} ")
    assert node.our_pid() == 4242
