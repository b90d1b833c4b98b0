"""The `medbot` command line. Subcommands of other packages plug in via the `medbot.commands`
entry-point group (the simulator adds `medbot sim`), so this package never imports upwards."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path

import click

from hal.registry import ConfigError
from robots.config import known_kinds, load_robot_config
from robots.plugins import COMMAND_GROUP, load_device_registry


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="medbot")
def cli() -> None:
    """medbot: the open control stack for hospital service robots."""


@cli.command("check-config")
@click.argument("path", type=click.Path(path_type=Path))
def check_config(path: Path) -> None:
    """Validate a robot kind config and every device in it (without opening any device)."""
    try:
        config = load_robot_config(path)
        registry = load_device_registry()
        for name, spec in config.devices.items():
            registry.validate(spec, source=config.source, field_path=f"devices.{name}")
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{path}: ok ({config.kind}, {len(config.devices)} devices)")


@cli.command("kinds")
def kinds() -> None:
    """List the robot kinds shipped with medbot."""
    for kind in known_kinds():
        click.echo(kind)


def _add_plugin_commands() -> None:
    for ep in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name):
        if ep.name not in cli.commands:
            cli.add_command(ep.load(), ep.name)


def main(argv: list[str] | None = None) -> int:
    _add_plugin_commands()
    try:
        cli.main(args=argv, prog_name="medbot", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
