"""The deployment files: the compose file (validated by Debian's docker-compose), its site
(loaded by the real loader), its generated Prometheus configuration, the Dockerfile (read by a
small parser: there is no container engine here to build it), and the systemd units (checked
by systemd-analyze verify). docs/deployment.md explains them."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from config.addresses import split_host_port
from config.loader import load_site
from config.site import Site
from controller.cli.monitoring_cmd import prometheus_config
from controller.peer.transport import UdpTransport
from tests.conftest import ROOT, free_port, require_tool

COMPOSE = ROOT / "docker-compose.yml"
SITE = ROOT / "deploy" / "compose" / "site.toml"
PROMETHEUS = ROOT / "monitoring" / "prometheus" / "compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
UNITS = ROOT / "deploy" / "systemd"
NODE_UNIT = UNITS / "dgi-node@.service"
SERVICES = {"simulator", "sst1", "sst2", "sst3", "prometheus", "grafana"}


@pytest.fixture(scope="module")
def compose() -> dict[str, object]:
    """The compose file as docker-compose resolves it (anchors merged, paths absolute)."""
    result = subprocess.run(
        [require_tool("docker-compose"), "--file", str(COMPOSE), "config"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert isinstance(resolved, dict)
    return resolved


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(SITE)


def services(compose: dict[str, object]) -> dict[str, dict[str, object]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


# -- the compose file ------------------------------------------------------------------------------


def test_compose_file_is_valid_and_has_the_original_topology(compose: dict[str, object]) -> None:
    assert set(services(compose)) == SERVICES


def test_every_service_has_a_health_check_and_waits_for_what_it_needs(
    compose: dict[str, object],
) -> None:
    found = services(compose)
    for name, service in found.items():
        assert "healthcheck" in service, f"{name} has no health check"
        assert "curl" not in str(service["healthcheck"]), f"{name}: slim images have no curl"
    waits = {
        name: {
            needed: condition["condition"]
            for needed, condition in service.get("depends_on", {}).items()  # type: ignore[attr-defined]
        }
        for name, service in found.items()
    }
    healthy = "service_healthy"
    assert waits == {
        "simulator": {},
        "sst1": {"simulator": healthy},
        "sst2": {"simulator": healthy},
        "sst3": {"simulator": healthy},
        "prometheus": {"sst1": healthy, "sst2": healthy, "sst3": healthy},
        "grafana": {"prometheus": healthy},
    }


def test_every_image_has_a_version_tag(compose: dict[str, object]) -> None:
    for name, service in services(compose).items():
        image = str(service["image"])
        assert ":" in image, f"{name}: {image} has no tag"
        assert not image.endswith(":latest"), f"{name}: {image}"


def test_every_mounted_file_is_in_the_repository(compose: dict[str, object]) -> None:
    for name, service in services(compose).items():
        for volume in service.get("volumes", []):  # type: ignore[attr-defined]
            source = str(volume).split(":")[0]
            if source.startswith("/"):
                assert Path(source).exists(), f"{name} mounts {source}, which is not there"


# -- the compose site --------------------------------------------------------------------------


def test_the_compose_site_loads_and_its_addresses_are_service_names(site: Site) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "controller", "check-config", str(SITE)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [n.id for n in site.nodes] == ["sst1", "sst2", "sst3"]
    for node in site.nodes:
        assert split_host_port(node.api)[0] == node.id
        assert split_host_port(node.peer)[0] == node.id
    assert {d.entry.host for d in site.devices} == {"simulator"}
    assert site.document.simulation.control is not None
    assert split_host_port(site.document.simulation.control)[0] == "simulator"


def test_each_node_service_runs_its_node_of_the_site(
    compose: dict[str, object], site: Site
) -> None:
    found = services(compose)
    header = site.document.site
    secrets = {Path(header.key_file).name, Path(header.api_token_file).name}
    assert {str(Path(header.key_file).parent), str(Path(header.api_token_file).parent)} == {
        "/run/secrets"
    }
    for node in site.nodes:
        service = found[node.id]
        assert service["command"] == [
            "run", "--config", "/etc/dgi/site.toml", "--node", node.id,
        ]  # fmt: skip
        assert service["environment"] == {"DGI_HEALTH_URL": f"http://{node.api}/healthz"}
        assert f"{SITE}:/etc/dgi/site.toml:ro" in service["volumes"]  # type: ignore[operator]
        assert f"{node.id}-state:{header.state_dir}:rw" in service["volumes"]  # type: ignore[operator]
        assert {s["target"] for s in service["secrets"]} == secrets  # type: ignore[attr-defined]
    assert found["simulator"]["command"] == ["simulate", "--config", "/etc/dgi/site.toml"]


def port(entry: object) -> tuple[str | None, int, int]:
    """(host address or None, published port, container port) of a port entry, short
    ("127.0.0.1:8102:8101/tcp", as docker-compose 1.29 writes it) or long."""
    if isinstance(entry, dict):
        return entry.get("host_ip"), int(entry["published"]), int(entry["target"])
    *host, published, target = str(entry).split("/")[0].split(":")
    return (host[0] if host else None), int(published), int(target)


def test_sst1_is_the_public_charge_entry_on_8080(compose: dict[str, object], site: Site) -> None:
    found = services(compose)
    published = {name: [port(p) for p in s.get("ports", [])] for name, s in found.items()}  # type: ignore[attr-defined]
    api_port = {n.id: split_host_port(n.api)[1] for n in site.nodes}
    assert published["sst1"] == [(None, 8080, api_port["sst1"])]  # every interface
    assert published["sst2"] == [("127.0.0.1", 8102, api_port["sst2"])]
    assert published["sst3"] == [("127.0.0.1", 8103, api_port["sst3"])]
    assert published["simulator"] == []  # Modbus has no authentication: never published


def test_committed_prometheus_configuration_is_generated_from_the_compose_site(
    site: Site, tmp_path: Path
) -> None:
    generated = subprocess.run(
        [sys.executable, "-m", "controller", "prometheus-config", str(SITE)],
        capture_output=True, text=True, cwd=ROOT, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert PROMETHEUS.read_text() == generated == prometheus_config(site)
    targets = yaml.safe_load(generated)["scrape_configs"][0]["static_configs"]
    assert [t["targets"] for t in targets] == [[n.api] for n in site.nodes]


def test_the_prometheus_configuration_and_its_rules_pass_promtool(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    (tmp_path / "prometheus.yml").write_text(PROMETHEUS.read_text())
    (tmp_path / "rules.yml").write_text((PROMETHEUS.parent / "rules.yml").read_text())
    checked = subprocess.run(
        [promtool, "check", "config", "prometheus.yml"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_grafana_in_compose_reads_the_compose_prometheus() -> None:
    one_host = yaml.safe_load(
        (ROOT / "monitoring/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    in_compose = yaml.safe_load((ROOT / "deploy/compose/grafana-datasource.yml").read_text())
    assert in_compose["datasources"][0].pop("url") == "http://prometheus:9090"
    one_host["datasources"][0].pop("url")
    assert in_compose == one_host


def test_a_node_reaches_its_peers_by_name(tmp_path: Path) -> None:
    """Peer addresses may be host names (compose service names, DNS names): the UDP socket
    binds a name and sends to one (resolved per datagram, so a peer that comes back on a new
    address is found)."""
    import asyncio

    async def exchange() -> bytes:
        got: asyncio.Queue[bytes] = asyncio.Queue()
        a_port, b_port = free_port(), free_port()
        a = await UdpTransport.bind(("localhost", a_port), {"b": ("localhost", b_port)}, print)
        b = await UdpTransport.bind(("localhost", b_port), {}, got.put_nowait)
        try:
            a.send("b", b"hello")
            return await asyncio.wait_for(got.get(), 5)
        finally:
            a.close()
            b.close()

    assert asyncio.run(exchange()) == b"hello"


# -- the Dockerfile ----------------------------------------------------------------------------


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction: comments dropped, continuations joined."""
    joined = re.sub(r"\\\n", " ", "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith("#")
    ))  # fmt: skip
    found = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def stages(parsed: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instruction in parsed:
        if instruction[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def test_dockerfile_runs_dgi_as_a_user_with_a_health_check() -> None:
    parsed = instructions(DOCKERFILE.read_text())
    defaults = dict(
        arg.split("=", 1) for word, arg in parsed if word == "ARG" and "=" in arg
    )  # the ARGs before the first FROM and in stages, with their defaults
    built = stages(parsed)
    assert len(built) == 2, "a build stage and a slim run stage"
    for stage in built:
        base = stage[0][1].split()[0]
        base = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], base)
        if stage is built[-1] or "AS" not in stage[0][1]:
            assert base.startswith("python:3.11-slim"), base
        assert ":" in base, base
        assert not base.endswith(":latest"), base
    final = dict(built[-1])
    assert final["USER"] not in ("root", "0", "")
    assert "python" in final["HEALTHCHECK"]
    assert "curl" not in final["HEALTHCHECK"]
    assert "/healthz" in final["ENV"] or "/healthz" in final["HEALTHCHECK"]
    assert final["ENTRYPOINT"] == '["dgi"]'
    installs = [arg for word, arg in built[0] if word == "RUN" and "pip" in arg]
    assert installs
    assert all("--no-cache-dir" in arg for arg in installs)
    assert not any("dev" in shlex.split(arg) or "[dev" in arg for arg in installs)


def test_dockerignore_lets_in_what_the_dockerfile_copies() -> None:
    allowed = {
        line.removeprefix("!").rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    copied = {
        word
        for instruction, arg in instructions(DOCKERFILE.read_text())
        if instruction == "COPY" and "--from" not in arg
        for word in arg.split()[:-1]
    }
    assert copied == allowed
    for path in copied:
        assert (ROOT / path).exists(), path


# -- systemd -----------------------------------------------------------------------------------


def unit_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_the_node_unit_runs_one_node_hardened_with_time_to_write_its_failsafe() -> None:
    unit = unit_settings(NODE_UNIT)
    assert unit["ExecStart"] == [
        "/opt/dgi/bin/dgi run --config /etc/dgi/site.toml --node %i --log-format json"
    ]
    assert unit["User"] == ["dgi"]
    assert unit["Restart"] == ["on-failure"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ReadWritePaths": "/var/lib/dgi",
        "StateDirectory": "dgi",
        "PrivateTmp": "yes",
        "KillMode": "mixed",
    }.items():
        assert unit[key] == [value], key
    assert int(unit["TimeoutStopSec"][0]) >= 10
    assert "time-sync.target" in unit["After"][0]


@pytest.mark.parametrize("name", ["dgi-node@.service", "dgi-simulate.service"])
def test_systemd_analyze_verifies_the_units(name: str, tmp_path: Path) -> None:
    """verify checks every key and that ExecStart's program exists: the copy points at this
    virtualenv's dgi instead of /opt/dgi."""
    analyze = require_tool("systemd-analyze")
    dgi = Path(sys.executable).parent / "dgi"
    assert dgi.exists(), dgi
    text = (UNITS / name).read_text().replace("/opt/dgi/bin/dgi", str(dgi))
    (tmp_path / name).write_text(text)
    target = tmp_path / name
    if name.endswith("@.service"):  # a template is verified as an instance
        target = tmp_path / name.replace("@.", "@sst1.")
        target.symlink_to(name)
    result = subprocess.run(
        [analyze, "verify", str(target)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    problems = [line for line in result.stderr.splitlines() if str(tmp_path) in line]
    assert not problems, "\n".join(problems)


def test_the_units_ports_are_not_named_here() -> None:
    """A unit names no address: the site file does, so one unit serves every host."""
    for path in UNITS.glob("*.service"):
        assert not re.search(r"\d+\.\d+\.\d+\.\d+|:\d{2,5}\b", path.read_text()), path
