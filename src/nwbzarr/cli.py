"""The ``nwbzarr`` command line: convert, info, demo, verify, ..."""

from __future__ import annotations

import json
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import typer

from . import cli_errors
from .cli_checks import (
    check_graph_format,
    check_input,
    check_jobs,
    check_links,
    check_migrate_layout,
    check_target_name,
    check_to,
    check_zarr_format,
    source_format,
    version_text,
)

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Store NWB (and any HDMF) data in Zarr: convert, inspect, benchmark.")
TO_HELP = "Write this format whatever the target's name: zarr or hdf5 (default: the name's, else the other one)."
_debug = {"on": False}  # set by --debug (the app callback) for main(), which reports what the command raised


def _show_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def _app_options(
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an error (also: NWBZARR_DEBUG=1)."),
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                 help="Print the versions of nwbzarr and the libraries it runs on, and exit."),
) -> None:
    """Store NWB (and any HDMF) data in Zarr: convert, inspect, benchmark."""
    _debug["on"] = _debug["on"] or debug


STORAGE_OPTION_HELP = ("KEY=VALUE for the remote file system (fsspec/s3fs), repeatable; VALUE is read as JSON "
                       "when it parses, else as text. s3:// reads default to anon=true. remote_client=obstore|fsspec "
                       "picks the client (default: obstore for reads it can serve, else fsspec).")
STORAGE_OPTION = typer.Option(None, "--storage-option", help=STORAGE_OPTION_HELP)  # shared by every command
PROGRESS_OPTION = typer.Option(  # shared by every command: bars and informational lines on stderr
    None, "--progress/--no-progress", " /--quiet", " /-q",
    help="--progress: show progress bars even when stderr is not a terminal (default: only on a terminal). "
         "--no-progress, --quiet, -q: no bars and no informational lines on stderr (results on stdout, "
         "warnings and errors stay). TQDM_DISABLE=1 in the environment turns every bar off.")
SOURCE_STORAGE_OPTION = typer.Option(  # convert's: a remote source on another endpoint or with other credentials
    None, "--source-storage-option",
    help="KEY=VALUE for a remote source only, repeatable (default: the --storage-option ones; none at all: "
         "anon=true for an s3:// source).")


def parse_storage_options(pairs: list[str] | None) -> dict[str, Any]:
    """``["anon=true", "endpoint_url=http://h:1"]`` -> ``{"anon": True, "endpoint_url": "http://h:1"}``."""
    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--storage-option")
        try:
            options[key.strip()] = json.loads(text)
        except ValueError:
            options[key.strip()] = text
    return options


def _read_options(path: str, pairs: list[str] | None) -> dict[str, Any] | None:
    """The options a command reads ``path`` with: those given, else anonymous for ``s3://`` (``read_nwb``'s)."""
    from .storage.remote_clients import split_client

    options = parse_storage_options(pairs)
    if path.startswith("s3://") and not split_client(options)[1]:  # nothing but the client chosen
        return {**options, "anon": True}
    return options or None


def _store_or_path(path: str, options: dict[str, Any] | None, read_only: bool = True) -> Any:
    """A URL opened with ``options`` as a zarr Store, for the functions that take a path or a Store; local
    paths (and URLs without options) pass through unchanged."""
    if not options or "://" not in path:
        return path
    from .backend.location import open_location

    return open_location(path, read_only, options)[0]


def _source(path: str, options: dict[str, Any] | None) -> Any:
    """What the structure commands read: a remote Zarr store opened with ``options``, else the path."""
    if not options or "://" not in path:
        return path
    from .backend.io import ZarrIO
    from .structure.zarr_source import ZarrSource

    return ZarrSource(_store_or_path(path, options)) if ZarrIO.can_read(path, options) else path


@app.command()
def convert(
    source: str = typer.Argument(..., help="An HDF5 file or a Zarr store (the direction follows its content)."),
    target: str = typer.Argument(..., help="The Zarr store or HDF5 file to create (.nwb/.h5/.hdf5: HDF5; "
                                           ".zarr or a store URL: Zarr)."),
    zarr_format: int = typer.Option(3, "--zarr-format", callback=check_zarr_format,
                                    help="3: current layout; 2: legacy (hdmf-zarr <= 0.13)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the target if it exists."),
    to: str | None = typer.Option(None, "--to", callback=check_to, help=TO_HELP),
    link_data: bool = typer.Option(False, "--link-data", help="Link instead of copying where possible."),
    jobs: int = typer.Option(1, "--jobs", "-j", callback=check_jobs,
                             help="Processes copying large HDF5 datasets (-1: all cores)."),
    links: str = typer.Option("relative", "--links", "--external-links", callback=check_links,
                              help="Which other files the source's links may open: none, relative (beside the "
                                   "source; remote: same host), local (any local path) or any."),
    storage_option: list[str] | None = STORAGE_OPTION,
    source_storage_option: list[str] | None = SOURCE_STORAGE_OPTION,
    progress: bool | None = PROGRESS_OPTION,
) -> None:
    """Convert HDF5 -> Zarr or Zarr -> HDF5, a faithful copy: own cached specs, types, data, links, references.
    Either side may be a URL (s3://bucket/x.nwb.zarr); an HDF5 target is a local file."""
    from .convert import convert as run

    options = parse_storage_options(storage_option) or None
    source_options = parse_storage_options(source_storage_option) or options or _read_options(source, None)
    kind = source_format(source, source_options, "convert")
    writes = "zarr" if kind == "hdf5" else "hdf5"
    check_target_name(target, writes, "convert", f"from {'an HDF5 file' if kind == 'hdf5' else 'a Zarr store'}", to)
    run(source, target, link_data=link_data, zarr_format=zarr_format, overwrite=overwrite, progress=progress,
        jobs=jobs, external_links=links, storage_options=options, source_storage_options=source_options)
    typer.echo(f"wrote {target}")


@app.command()
def info(path: str = typer.Argument(..., help="An NWB HDF5 file or Zarr store (path or URL)."),
         as_json: bool = typer.Option(False, "--json", help="Print one JSON document (stable keys) instead."),
         storage_option: list[str] | None = STORAGE_OPTION,
         progress: bool | None = PROGRESS_OPTION) -> None:  # no bar: accepted as by every command
    """Print the tree of a file or store: types, shapes, dtypes, chunks, codecs, stored and logical sizes."""
    from .info import format_tree, summarise_file, to_json

    options = _read_options(path, storage_option)
    check_input(path, "info", options)
    file_format, summaries = summarise_file(path, options)
    typer.echo(to_json(path, file_format, summaries) if as_json else format_tree(summaries))


@app.command()
def demo(output: str = typer.Option("", help="Where to write the Zarr store (default: a temporary folder, "
                                             "removed at the end)."),
         progress: bool | None = PROGRESS_OPTION) -> None:
    """Convert the bundled sample NWB file to Zarr and print its tree (no download, no server)."""
    if output:
        check_target_name(output, "zarr", "demo", "from the bundled sample", hint="'--output'",
                          has_to_option=False)
        _demo(output, progress)
        return
    with tempfile.TemporaryDirectory(prefix="nwbzarr-demo-") as folder:
        _demo(str(Path(folder) / "sample.nwb.zarr"), progress, temporary=True)


def _demo(target: str, progress: bool | None, temporary: bool = False) -> None:
    """Convert the bundled sample into ``target`` and print what ``info`` shows of it."""
    from .convert import convert as run
    from .info import format_tree, summarise

    sample = resources.files("nwbzarr") / "data" / "sample.nwb"
    with resources.as_file(sample) as sample_path:
        run(str(sample_path), target, overwrite=not temporary, progress=progress)
    note = " (a temporary folder, removed at the end; --output keeps the store)" if temporary else ""
    typer.echo(f"converted {sample.name} -> {target}{note}\n")
    typer.echo(format_tree(summarise(target)))


@app.command()
def graph(
    path: str = typer.Argument(..., help="An NWB HDF5 file or Zarr store."),
    fmt: str = typer.Option("json", "--format", callback=check_graph_format, help="graphml, json or dot."),
    output: str = typer.Option("", "--output", "-o", help="Write here instead of standard output."),
    plot: str = typer.Option("", "--plot", help="Also draw the typed-object graph to this image (matplotlib)."),
    storage_option: list[str] | None = STORAGE_OPTION,
    progress: bool | None = PROGRESS_OPTION,
) -> None:
    """Print the dependency graph: objects, and child/link/reference edges between them."""
    from .structure.graph import dependency_graph, plot_graph, to_dot, to_graphml, to_json

    options = _read_options(path, storage_option)
    check_input(path, "graph", options)
    g = dependency_graph(_source(path, options), progress=progress)
    if plot:
        plot_graph(g, plot)
        if progress is not False:
            typer.echo(f"wrote {plot}", err=True)
    if fmt == "graphml":
        to_graphml(g, output or sys.stdout.buffer)
        return
    text = to_json(g) if fmt == "json" else to_dot(g)
    if output:
        Path(output).write_text(text)
    else:
        typer.echo(text)


@app.command()
def refs(
    path: str = typer.Argument(..., help="An NWB HDF5 file or Zarr store."),
    obj: str = typer.Argument(..., help="Absolute path of the object inside the file."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Also references into its descendants."),
    storage_option: list[str] | None = STORAGE_OPTION,
    progress: bool | None = PROGRESS_OPTION,
) -> None:
    """List what refers to an object (references and links), and what it refers to."""
    from .structure import ReferenceIndex

    options = _read_options(path, storage_option)
    check_input(path, "refs", options)
    index = ReferenceIndex(_source(path, options), progress=progress)
    index.check_object(obj)
    incoming, outgoing = index.referrers(obj, recursive=recursive), index.references(obj)
    typer.echo(f"referrers of {obj}: {len(incoming)}")
    for r in incoming:
        typer.echo(f"  {r.source} {r.via} -> {r.target_id}" + (f" region={r.region}" if r.region else ""))
    typer.echo(f"references held by {obj}: {len(outgoing)}")
    for r in outgoing:
        typer.echo(f"  {r.via} -> {r.target_id}" + (f" region={r.region}" if r.region else ""))


@app.command()
def truncate(
    source: str = typer.Argument(..., help="An NWB HDF5 file or Zarr store."),
    target: str = typer.Argument(..., help="The file or store to create (same format as the source)."),
    n: int = typer.Option(10, "-n", min=0, help="Entries kept along the first axis of every dataset."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the target if it exists."),
    to: str | None = typer.Option(None, "--to", callback=check_to,
                                  help="Keep the target's name whatever it says: zarr or hdf5, the source's format."),
    storage_option: list[str] | None = STORAGE_OPTION,
    progress: bool | None = PROGRESS_OPTION,
) -> None:
    """Cut a file down to its first N entries per dataset, keeping tables consistent."""
    from .structure import truncate_file

    read_options = _read_options(source, storage_option)
    kind = source_format(source, read_options, "truncate")
    check_target_name(target, kind, "truncate", "(the source's format)", to)
    src = _source(source, read_options)
    options = parse_storage_options(storage_option) or None  # a remote target's (never anonymous)
    written = truncate_file(src, target, n=n, overwrite=overwrite, storage_options=options, progress=progress)
    typer.echo(f"wrote {written}")


@app.command()
def specs(path: str = typer.Argument(..., help="An NWB HDF5 file or Zarr store."),
          storage_option: list[str] | None = STORAGE_OPTION,
          progress: bool | None = PROGRESS_OPTION) -> None:  # no bar: accepted as by every command
    """List the specifications cached in a file: namespaces, versions and spec files."""
    from .structure import read_specs_as_dicts

    options = _read_options(path, storage_option)
    check_input(path, "specs", options)
    cached = read_specs_as_dicts(_source(path, options))
    if not cached:
        typer.echo("no cached specifications")
    for ns, versions in sorted(cached.items()):
        for version, files in sorted(versions.items()):
            typer.echo(f"{ns} {version}: {', '.join(sorted(files))}")


@app.command()
def migrate(
    source: str = typer.Argument(..., help="A Zarr store in either layout."),
    target: str = typer.Argument(..., help="The store to create."),
    to: str = typer.Option("", "--to", callback=check_migrate_layout,
                           help="v3 (current) or v2 (legacy, hdmf-zarr <= 0.13); default: the other."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the target if it exists."),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Compare nodes and per-dataset checksums."),
    storage_option: list[str] | None = STORAGE_OPTION,
    progress: bool | None = PROGRESS_OPTION,
) -> None:
    """Convert a store between the legacy (Zarr v2) and current (Zarr v3) layouts, chunk by chunk."""
    from .migrate import migrate as run

    read_options = _read_options(source, storage_option)
    check_input(source, "migrate", read_options, zarr_only=True)
    check_target_name(target, "zarr", "migrate", "(from one Zarr layout to the other)",
                      has_to_option=False)
    options = parse_storage_options(storage_option) or None
    report = run(_store_or_path(source, read_options),
                 _store_or_path(target, options, read_only=False), to or None, overwrite=overwrite, verify=verify,
                 progress=progress)
    typer.echo(str(report))
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def verify(
    path: str = typer.Argument(..., help="A Zarr store (path or URL) written by nwbzarr."),
    checksums: bool = typer.Option(False, "--checksums", help="Also compare every chunk's md5 with the manifest "
                                   "and print the store's DANDI Zarr checksum (reads every chunk)."),
    storage_option: list[str] | None = STORAGE_OPTION,
    progress: bool | None = PROGRESS_OPTION,  # no bar: accepted as by every command
) -> None:
    """Compare the chunks a store holds with its chunk manifest: missing, extra, altered. Exit code 1 if any."""
    from .verify import verify as run

    options = _read_options(path, storage_option)
    check_input(path, "verify", options, zarr_only=True)
    report = run(_store_or_path(path, options), checksums=checksums)
    typer.echo(str(report))
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def manifest(
    path: str = typer.Argument(..., help="A Zarr store (path or URL) to record the chunk manifest of."),
    checksums: bool = typer.Option(False, "--checksums", help="Record every chunk's md5 too (reads every chunk)."),
    storage_option: list[str] | None = STORAGE_OPTION,
    progress: bool | None = PROGRESS_OPTION,  # no bar: accepted as by every command
) -> None:
    """(Re)write the chunk manifest from what the store holds now (e.g. a store written by hdmf-zarr)."""
    from .verify import record_manifest

    options = parse_storage_options(storage_option) or None
    check_input(path, "manifest", options, zarr_only=True)
    doc = record_manifest(_store_or_path(path, options, read_only=False), checksums=checksums)
    typer.echo(f"recorded the chunks of {len(doc['arrays'])} arrays in {path}")


def main(argv: list[str] | None = None) -> None:
    """The ``nwbzarr`` program: run the command, and report a mistake in one line on stderr, exit code 2 for
    a usage error and 1 for a failure (the traceback only with ``--debug`` or ``NWBZARR_DEBUG=1``)."""
    _debug["on"] = cli_errors.debug_from_environment()
    try:
        code = app(args=argv, prog_name=cli_errors.PROG, standalone_mode=False)
    except cli_errors.UsageError as exc:
        code = cli_errors.report_usage_error(exc)
    except cli_errors.ClickException as exc:
        code = cli_errors.report_click_failure(exc)
    except typer.Abort:
        cli_errors.say_error("aborted")
        code = cli_errors.FAILURE_EXIT
    except BrokenPipeError:  # the reader of standard output went away (`nwbzarr graph x | head`): not an error
        _silence_stdout()
        code = cli_errors.FAILURE_EXIT
    except Exception as exc:
        code = cli_errors.report_failure(exc, _debug["on"])
    sys.exit(code if isinstance(code, int) else 0)


def _silence_stdout() -> None:
    """Point standard output at /dev/null so the interpreter's final flush does not fail a second time."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    main()
