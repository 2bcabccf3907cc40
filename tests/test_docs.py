"""The documentation site: it builds with ``mkdocs build --strict``, its CLI reference follows the Typer app,
and every code example in ``docs/**/*.md`` runs, page by page, in order, in a temporary folder.

Conventions: ``python`` blocks run in one namespace per page; ``bash`` blocks run with ``bash -e`` and the
checkout's ``nwbzarr`` command first on ``PATH``. A python block whose first line is ``# file: NAME.py`` is a
module the page's later blocks import: it is written to that file in the page's folder (which is on
``sys.path``, so worker processes import it too). A block whose first line is ``# not run: <reason>`` is shown
but not run (public data on the network); such blocks are counted, so they stay rare. Blocks in other languages
(``json``, ``text``) are data, not examples.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SRC = ROOT / "src"
FENCE = re.compile(r"^```(python|bash)[^\n]*\n(.*?)^```", re.S | re.M)
NOT_RUN = re.compile(r"# not run: \S")
MODULE_FILE = re.compile(r"# file: ([\w-]+\.py)\n")
MAX_NOT_RUN = 3  # across the whole site


def code_blocks(page: Path) -> list[tuple[str, str]]:
    """The ``(language, code)`` of each python and bash block of a page, in order."""
    return FENCE.findall(page.read_text())


def pages_with_examples() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if code_blocks(p))


def _environment(bin_dir: Path) -> dict[str, str]:
    """The environment the examples run in: this checkout's package first, its ``nwbzarr`` command on PATH."""
    shim = bin_dir / "nwbzarr"
    shim.write_text(f"#!{sys.executable}\nfrom nwbzarr.cli import main\nmain()\n")
    shim.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH", "")]))
    env["TQDM_DISABLE"] = "1"
    return env


@pytest.mark.parametrize("page", pages_with_examples(), ids=lambda p: str(p.relative_to(DOCS)))
def test_every_example_of_the_page_runs_in_order(page, tmp_path, monkeypatch):
    work, bin_dir = tmp_path / "work", tmp_path / "bin"
    work.mkdir()
    bin_dir.mkdir()
    env = _environment(bin_dir)
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(work))
    monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])  # worker processes the examples start
    saved_environ = dict(os.environ)
    try:
        run_page(page, work, env)
    finally:  # the page's own modules and environment variables are not left for other pages
        for name, module in list(sys.modules.items()):
            if str(getattr(module, "__file__", None) or "").startswith(str(work)):
                del sys.modules[name]
        os.environ.clear()
        os.environ.update(saved_environ)


def run_page(page: Path, work: Path, env: dict[str, str]) -> None:
    """Each example of ``page`` in order: python in one namespace, bash in a subprocess, modules to files."""
    namespace: dict = {"__name__": "__docs__"}
    for number, (language, code) in enumerate(code_blocks(page), 1):
        if NOT_RUN.match(code):
            continue
        where = f"{page.relative_to(ROOT)}, block {number} ({language})"
        module = MODULE_FILE.match(code) if language == "python" else None
        if module:
            (work / module.group(1)).write_text(code)
        elif language == "python":
            exec(compile(code, where, "exec"), namespace)
        else:
            shell_env = {**os.environ, **env}  # variables the page's python set before, for its shell examples
            result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", code], cwd=work, env=shell_env,
                                    capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, f"{where} failed:\n{result.stdout}\n{result.stderr}"


def test_blocks_not_run_are_few_and_say_why():
    skipped = [(p, code) for p in DOCS.rglob("*.md") for _, code in code_blocks(p) if code.startswith("# not run")]
    assert len(skipped) <= MAX_NOT_RUN, [str(p) for p, _ in skipped]
    for page, code in skipped:
        assert NOT_RUN.match(code), f"{page}: a block not run must say why: '# not run: <reason>'"


def test_cli_reference_lists_every_command_and_option():
    sys.path.insert(0, str(DOCS / "_hooks"))
    try:
        from cli_reference import cli_reference_markdown
    finally:
        sys.path.remove(str(DOCS / "_hooks"))
    import typer.main

    from nwbzarr.cli import app

    text = cli_reference_markdown()
    root = typer.main.get_command(app)
    assert root.commands, "the app has no commands"
    for param in root.params:  # options of the command line itself (--version, ...)
        for opt in [*param.opts, *param.secondary_opts]:
            assert f"`{opt}`" in text, opt
    for name, command in root.commands.items():
        assert f"## `nwbzarr {name}`" in text, name
        for param in command.params:
            for opt in [*param.opts, *param.secondary_opts]:
                shown = f"`{param.name.upper()}`" if param.param_type_name == "argument" else f"`{opt}`"
                assert shown in text, (name, opt)


def test_site_builds_strict(tmp_path):
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                             str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    cli = (site / "cli" / "index.html").read_text()
    assert "nwbzarr convert" in cli and "--storage-option" in cli
    api = (site / "api" / "io" / "index.html").read_text()
    assert "NWBZarrIO" in api and "storage_options" in api
    for page in ("getting-started", "format", "guide/remote", "api/storage", "api/structure"):
        assert (site / page / "index.html").exists(), page


def test_cli_reference_follows_a_command_added_to_the_app():
    """A command or option added to the Typer app appears in the reference with no edit to the docs."""
    import typer

    from nwbzarr.cli import app

    sys.path.insert(0, str(DOCS / "_hooks"))
    try:
        from cli_reference import cli_reference_markdown
    finally:
        sys.path.remove(str(DOCS / "_hooks"))

    def frobnicate(path: str = typer.Argument(..., help="What to frobnicate."),
                   twice: bool = typer.Option(False, "--twice/--once", help="Frobnicate it twice.")) -> None:
        """Frobnicate a store (a command that exists only in this test)."""

    app.command()(frobnicate)
    try:
        text = cli_reference_markdown()
    finally:
        app.registered_commands.pop()
    assert "## `nwbzarr frobnicate`" in text
    assert "Frobnicate a store" in text and "`PATH`" in text
    assert "| `--twice`, `--once` | flag | `--once` | Frobnicate it twice. |" in text
    assert "frobnicate" not in cli_reference_markdown()


def test_every_public_name_has_an_api_entry():
    """Each name ``nwbzarr``, ``nwbzarr.storage`` and ``nwbzarr.structure`` export appears in the API pages
    (errors through the ``nwbzarr.errors`` module page)."""
    import nwbzarr
    import nwbzarr.storage
    import nwbzarr.structure
    from nwbzarr import errors

    directives = set(re.findall(r"^::: ([\w.]+)", "\n".join(p.read_text() for p in (DOCS / "api").glob("*.md")),
                                re.M))
    assert "nwbzarr.errors" in directives
    documented = {d.rsplit(".", 1)[-1] for d in directives}
    exported = {*nwbzarr.__all__, *nwbzarr.storage.__all__, *nwbzarr.structure.__all__} - set(errors.__all__)
    assert sorted(exported - documented) == []
