"""The ``nwbzarr`` command line: convert, info, demo."""

from __future__ import annotations

import tempfile
from importlib import resources
from pathlib import Path

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Store NWB (and any HDMF) data in Zarr: convert, inspect, benchmark.")


@app.command()
def convert(
    source: str = typer.Argument(..., help="An HDF5 file or a Zarr store (the direction follows its content)."),
    target: str = typer.Argument(..., help="The Zarr store or HDF5 file to create."),
    zarr_format: int = typer.Option(3, "--zarr-format", help="3: current layout; 2: legacy (hdmf-zarr <= 0.13)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the target if it exists."),
    link_data: bool = typer.Option(False, "--link-data", help="Link instead of copying where possible."),
) -> None:
    """Convert HDF5 -> Zarr or Zarr -> HDF5, keeping chunks, compression, links and references."""
    from .convert import convert as run

    run(source, target, link_data=link_data, zarr_format=zarr_format, overwrite=overwrite, progress=True)
    typer.echo(f"wrote {target}")


@app.command()
def info(path: str = typer.Argument(..., help="A Zarr store (path or URL).")) -> None:
    """Print the tree of a store: types, shapes, dtypes, chunks, codecs, stored and logical sizes."""
    from .info import format_tree, summarise

    typer.echo(format_tree(summarise(path)))


@app.command()
def demo(output: str = typer.Option("", help="Where to write the Zarr store (default: a temporary folder).")) -> None:
    """Convert the bundled sample NWB file to Zarr and print its tree (no download, no server)."""
    from .convert import convert as run
    from .info import format_tree, summarise

    sample = resources.files("nwbzarr") / "data" / "sample.nwb"
    with resources.as_file(sample) as sample_path:
        target = output or str(Path(tempfile.mkdtemp(prefix="nwbzarr-demo-")) / "sample.nwb.zarr")
        run(str(sample_path), target, overwrite=bool(output))
    typer.echo(f"converted {sample.name} -> {target}\n")
    typer.echo(format_tree(summarise(target)))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
