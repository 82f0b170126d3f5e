"""``wfc``: the command-line client (typer + rich). Knows only HTTP, through :mod:`communication.client`."""

from communication.cli.app import main

__all__ = ["main"]
