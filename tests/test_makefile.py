"""The Makefile as a newcomer meets it: help with real values, an install that needs no apt-get, sudo or browser,
a browser install that never prompts, `make local` on a machine without apt, `make invoke` and `make clean`.

Each run points make at a PATH of its own (a directory of links to the tools the recipes need, plus fakes that log
how they were called), so what a Mac or a Fedora laptop would see is tested here. The virtualenv is the existing
one (VENV), with an up-to-date install stamp of the test's own (STAMP), so nothing is installed into it.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)
MAKE = shutil.which("make") or "/usr/bin/make"
TOOLS = ("bash", "sh", "make", "env", "grep", "sed", "awk", "cat", "mktemp", "rm", "touch", "find", "dirname")


def tool_dir(tmp_path: Path, *, fakes: dict[str, str] | None = None, real: tuple[str, ...] = ()) -> Path:
    """A PATH directory with links to the basic tools (and ``real``), and shell scripts for ``fakes``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in (*TOOLS, *real):
        found = shutil.which(name)
        assert found, f"{name} is needed to run this test"
        (bin_dir / name).symlink_to(found)
    for name, body in (fakes or {}).items():
        script = bin_dir / name
        script.write_text(f'#!{shutil.which("bash")}\necho "{name} $*" >> "{tmp_path}/calls"\n{body}\n')
        script.chmod(0o755)
    return bin_dir


def fresh_stamp(tmp_path: Path) -> Path:
    stamp = tmp_path / "installed"
    stamp.touch()
    newest = max((ROOT / name).stat().st_mtime for name in ("requirements.txt", "requirements-dev.txt"))
    os.utime(stamp, (newest + 60, max(newest + 60, time.time())))
    return stamp


def make(tmp_path: Path, bin_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [MAKE, "--no-print-directory", *args, f"VENV={VENV}", f"STAMP={fresh_stamp(tmp_path)}"],
        cwd=ROOT,
        env={"PATH": str(bin_dir), "HOME": str(tmp_path), **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls"
    return log.read_text().splitlines() if log.exists() else []


# -- make help ---------------------------------------------------------------------------------------------------


def test_help_prints_the_values_of_the_variables_it_mentions(tmp_path):
    done = make(tmp_path, tool_dir(tmp_path), "help", "PORT=9123", "POSTGRES_URL=postgres://db.example/app")
    assert done.returncode == 0, done.stderr
    assert "$(" not in done.stdout
    assert "http://127.0.0.1:9123 and ws://127.0.0.1:8001" in done.stdout
    assert "PostgreSQL (postgres://db.example/app)" in done.stdout
    assert "infra/events/<EVENT>.json" in done.stdout  # empty unless given: named, not blank
    assert "make test-fast" in done.stdout


# -- make lint ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("mypy_status", "lint_fails"), [(0, False), (1, True)])
def test_lint_runs_ruff_then_the_type_checker_whose_errors_fail_it(tmp_path, mypy_status, lint_fails):
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    for name, status in (("ruff", 0), ("mypy", mypy_status)):
        script = venv_bin / name
        # The settings that the django-stubs plugin loads need DJANGO_DEBUG=1 (or a secret key): logged too.
        script.write_text(
            f'#!{shutil.which("bash")}\necho {name} $* DJANGO_DEBUG=$DJANGO_DEBUG >> "{tmp_path}/calls"\n'
            f"exit {status}\n"
        )
        script.chmod(0o755)
    done = subprocess.run(
        [MAKE, "--no-print-directory", "lint", f"VENV={venv_bin.parent}", f"STAMP={fresh_stamp(tmp_path)}"],
        cwd=ROOT,
        env={"PATH": str(tool_dir(tmp_path)), "HOME": str(tmp_path)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode != 0) == lint_fails, done.stderr
    assert calls(tmp_path) == [
        "ruff check . DJANGO_DEBUG=",
        "ruff format --check . DJANGO_DEBUG=",
        "mypy DJANGO_DEBUG=1",
    ]


# -- make install / make browser: never apt-get without a way to run it, never a password prompt -------------------

PLAYWRIGHT = "PLAYWRIGHT_INSTALL=echo playwright-install-chromium"


def test_install_needs_no_browser_no_apt_get_and_no_sudo(tmp_path):
    done = make(tmp_path, tool_dir(tmp_path), "install", PLAYWRIGHT)
    assert done.returncode == 0, done.stderr
    assert "playwright" not in done.stdout
    assert "chromium" not in done.stdout.lower()
    assert calls(tmp_path) == []


def test_without_apt_get_the_browser_comes_from_playwright(tmp_path):
    done = make(tmp_path, tool_dir(tmp_path, fakes={"id": "echo 1000"}), "browser", PLAYWRIGHT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "playwright-install-chromium"


def test_a_failed_playwright_download_skips_the_browser_tests_in_one_line(tmp_path):
    done = make(tmp_path, tool_dir(tmp_path), "browser", "PLAYWRIGHT_INSTALL=false")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Browser tests skipped: Playwright could not download Chromium (false)."


def test_as_root_with_apt_get_debian_chromium_is_installed(tmp_path):
    bin_dir = tool_dir(tmp_path, fakes={"apt-get": "", "id": "echo 0"})
    done = make(tmp_path, bin_dir, "browser", PLAYWRIGHT)
    assert done.returncode == 0, done.stderr
    assert calls(tmp_path) == ["id -u", "apt-get install -y -q chromium"]
    assert "playwright" not in done.stdout


def test_sudo_is_used_only_when_it_needs_no_password(tmp_path):
    bin_dir = tool_dir(tmp_path, fakes={"apt-get": "", "id": "echo 1000", "sudo": '"$2" "${@:3}"'})
    done = make(tmp_path, bin_dir, "browser", PLAYWRIGHT)
    assert done.returncode == 0, done.stderr
    assert calls(tmp_path) == [
        "id -u",
        "sudo -n true",
        "sudo -n apt-get install -y -q chromium",
        "apt-get install -y -q chromium",
    ]


def test_a_sudo_that_wants_a_password_is_never_asked_and_the_browser_tests_are_skipped(tmp_path):
    bin_dir = tool_dir(tmp_path, fakes={"apt-get": "", "id": "echo 1000", "sudo": "exit 1"})
    done = make(tmp_path, bin_dir, "browser", PLAYWRIGHT)
    assert done.returncode == 0, done.stderr
    assert calls(tmp_path) == ["id -u", "sudo -n true"]  # -n: sudo fails instead of prompting
    assert done.stdout.strip() == (
        "Browser tests skipped: Chromium is missing and apt-get needs a password here (sudo apt-get install chromium)."
    )


def test_an_installed_chromium_is_left_alone(tmp_path):
    bin_dir = tool_dir(tmp_path, fakes={"apt-get": "", "id": "echo 0", "chromium": ""})
    done = make(tmp_path, bin_dir, "browser", PLAYWRIGHT)
    assert done.returncode == 0, done.stderr
    assert (done.stdout, calls(tmp_path)) == ("", [])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_make_local_starts_on_a_machine_without_apt_get_or_sudo(tmp_path):
    """`make local` (install, migrate, the gateway) with no apt-get, sudo, docker or chromium on PATH."""
    bin_dir = tool_dir(tmp_path)
    for name in ("apt-get", "sudo", "docker", "chromium"):
        assert not (bin_dir / name).exists()
    port, ws_port = _free_port(), _free_port()
    stamp = fresh_stamp(tmp_path)
    process = subprocess.Popen(
        [
            MAKE,
            "--no-print-directory",
            "local",
            f"VENV={VENV}",
            f"STAMP={stamp}",
            f"PORT={port}",
            f"WS_PORT={ws_port}",
        ],
        cwd=ROOT,
        env={"PATH": str(bin_dir), "HOME": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'local.sqlite3'}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    output: list[str] = []
    try:
        while not any("Lambda handlers:" in line for line in output):
            output.append(lines.get(timeout=60))
        assert any("Site (HTTP API):" in line for line in output), "".join(output)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert response.status == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    time.sleep(0.2)  # the reader thread drains the last lines
    while not lines.empty():
        output.append(lines.get())
    rest = "".join(output)
    assert "Stopping: open connections are closed" in rest  # the gateway stopped cleanly on SIGTERM
    assert "chromium" not in rest.lower()  # no browser step at all
    assert (tmp_path / "local.sqlite3").exists()


# -- make invoke, make clean -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_invoke_runs_on_a_throwaway_database_and_names_the_warnings_it_provokes(tmp_path):
    developer_db = tmp_path / "developer.sqlite3"
    bin_dir = tool_dir(tmp_path)
    done = make(
        tmp_path,
        bin_dir,
        "invoke",
        "EVENT=sqs-batch",
        "SAM=/nonexistent",
        env={"DATABASE_URL": f"sqlite:///{developer_db}"},
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "On a throwaway database: sqlite:///" in done.stdout
    assert "sqs-batch logs two ERRORs on purpose" in done.stdout
    assert not developer_db.exists()


def test_clean_removes_everything_the_project_creates_and_nothing_else(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    created = [
        ".venv/bin/python",
        ".tools/sam/bin/sam",
        ".aws-sam/build/template.yaml",
        ".hypothesis/examples/x",
        "test-output/browser/home-1280.png",
        "staticfiles/x.css",
        ".pytest_cache/v",
        ".ruff_cache/x",
        ".mypy_cache/3.11/x",
        ".coverage",
        "db.sqlite3",
        "db.sqlite3-journal",
        ".test-db.sqlite3",
        ".test-db.sqlite3-wal",
        "project/__pycache__/settings.cpython-311.pyc",
    ]
    kept = ["project/settings.py", "README.md", "infra/events/connect.json"]
    for name in created + kept:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    done = subprocess.run([MAKE, "clean"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [name for name in created if (tmp_path / name).exists()] == []
    assert [name.split("/")[0] for name in created if (tmp_path / name.split("/")[0]).exists()] == ["project"]
    assert all((tmp_path / name).exists() for name in kept)


# -- the Lambda layer: what it never reads at run time is left out -------------------------------------------------


def _unused_django() -> list[str]:
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    [line] = [line for line in text.splitlines() if line.startswith("UNUSED_DJANGO ?=")]
    return line.split("?=", 1)[1].split()


def test_the_django_parts_left_out_of_the_layer_are_not_installed_apps(settings):
    unused = _unused_django()
    assert "contrib/postgres" in unused
    assert "contrib/sites" not in unused  # django.contrib.auth's views import its shortcuts
    installed = {app.removeprefix("django.").replace(".", "/") for app in settings.INSTALLED_APPS}
    assert installed.isdisjoint(unused)
    assert settings.DATABASES["default"]["ENGINE"].removeprefix("django.").replace(".", "/") not in unused


def test_trim_layer_removes_what_lambda_never_reads_and_strips_only_debug_sections(tmp_path):
    layer = tmp_path / "python"
    kept = [
        "django/contrib/admin/options.py",
        "django/contrib/sites/shortcuts.py",
        "django/db/backends/postgresql/base.py",
        "django/db/backends/sqlite3/base.py",
        "django/conf/locale/en/LC_MESSAGES/django.mo",
        "aiohttp-3.14.5.dist-info/METADATA",
        "psycopg_binary.libs/libpq-53e4e5f8.so.5.18",
        "aiohttp/_http_parser.cpython-312-aarch64-linux-gnu.so",
    ]
    removed = [
        "boto3/__init__.py",
        "botocore/client.py",
        "urllib3/__init__.py",
        "dateutil/parser.py",
        "six.py",
        "jmespath/__init__.py",
        "django/contrib/gis/__init__.py",
        "django/contrib/admin/static/admin/css/base.css",
        "django/contrib/postgres/fields/array.py",
        "django/contrib/flatpages/models.py",
        "django/db/backends/oracle/base.py",
        "django/db/backends/mysql/base.py",
        "django/conf/locale/de/LC_MESSAGES/django.mo",
        "django/conf/locale/en/LC_MESSAGES/django.po",
        "aiohttp-3.14.5.dist-info/RECORD",
        "multidict/_testcapi.cpython-312-aarch64-linux-gnu.so",
        "yarl/_quoting_c.pyx",
    ]
    for name in kept + removed:
        (layer / name).parent.mkdir(parents=True, exist_ok=True)
        (layer / name).write_bytes(b"x")
    # An extension with DWARF, and a repaired library without: only the first may be rewritten.
    (layer / "aiohttp/_http_parser.cpython-312-aarch64-linux-gnu.so").write_bytes(b"\x7fELF...\0.debug_info\0")
    bin_dir = tool_dir(tmp_path, fakes={"fake-strip": ""}, real=("cut", "basename", "xargs"))
    done = make(tmp_path, bin_dir, "trim-layer", f"LAYER_DIR={layer}", f"STRIP={bin_dir / 'fake-strip'}")
    assert done.returncode == 0, done.stderr
    assert [name for name in removed if (layer / name).exists()] == []
    assert [name for name in kept if not (layer / name).exists()] == []
    assert calls(tmp_path) == [
        f"fake-strip --strip-debug {layer}/aiohttp/_http_parser.cpython-312-aarch64-linux-gnu.so"
    ]


def test_without_an_arm64_strip_the_layer_is_trimmed_and_says_what_it_skipped(tmp_path):
    layer = tmp_path / "python"
    (layer / "urllib3").mkdir(parents=True)
    done = make(tmp_path, tool_dir(tmp_path), "trim-layer", f"LAYER_DIR={layer}", "STRIP=")
    assert done.returncode == 0, done.stderr
    assert not (layer / "urllib3").exists()
    assert "No llvm-strip or aarch64-linux-gnu-strip" in done.stdout


@pytest.mark.skipif(not shutil.which("llvm-strip"), reason="needs llvm-strip")
def test_strip_debug_keeps_an_extension_loadable(tmp_path):
    """On this machine's own architecture: an extension that carried DWARF still imports after the strip."""
    import markupsafe._speedups as extension

    layer = tmp_path / "python" / "markupsafe"
    layer.mkdir(parents=True)
    original = Path(extension.__file__)
    copy = layer / original.name
    shutil.copy(original, copy)
    (layer / "__init__.py").write_text("")
    done = make(tmp_path, tool_dir(tmp_path, real=("llvm-strip",)), "trim-layer", f"LAYER_DIR={layer.parent}")
    assert done.returncode == 0, done.stderr
    assert copy.stat().st_size < original.stat().st_size
    loaded = subprocess.run(
        [sys.executable, "-c", "import markupsafe._speedups as s; print(s.__file__)"],
        env={"PYTHONPATH": str(layer.parent)},
        capture_output=True,
        text=True,
    )
    assert loaded.stdout.strip() == str(copy), loaded.stderr
