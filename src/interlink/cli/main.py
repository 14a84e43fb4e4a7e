"""The `interlink` command: a thin layer over the library, one module per command group.

Every failure ends as one readable line on stderr and an exit code: 0 fine, 1 findings or an
incompatible change, 2 could not run. A traceback is shown only with INTERLINK_DEBUG=1.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Final

import click

from interlink import __version__
from interlink.errors import InterlinkError

#: Each command's module and object, imported only when the command is called (or listed by
#: ``--help``): a command's imports are a second or more of CPU for the biggest (the serve
#: runtime, the secret store), which every other command would otherwise pay at each start.
COMMANDS: Final = {
    "admin": ("interlink.cli.admin", "admin_group"),
    "alerts": ("interlink.cli.alerts", "alerts_group"),
    "apply": ("interlink.cli.apply", "apply_command"),
    "audit": ("interlink.cli.audit", "audit_group"),
    "catalog": ("interlink.cli.catalog", "catalog_group"),
    "check": ("interlink.cli.check", "check_command"),
    "compliance": ("interlink.cli.compliance", "compliance_group"),
    "connectors": ("interlink.cli.connectors", "connectors_group"),
    "consumers": ("interlink.cli.consumers", "consumers_group"),
    "console": ("interlink.cli.console", "console_group"),
    "demo": ("interlink.cli.demo", "demo_command"),
    "diff": ("interlink.cli.diff", "diff_command"),
    "dlq": ("interlink.cli.events", "dlq_group"),
    "events": ("interlink.cli.events", "events_group"),
    "export": ("interlink.cli.export", "export_group"),
    "flows": ("interlink.cli.flows", "flows_group"),
    "graph": ("interlink.cli.estate", "graph_command"),
    "impact": ("interlink.cli.inventory", "impact_command"),
    "init": ("interlink.cli.estate", "init_command"),
    "inventory": ("interlink.cli.inventory", "inventory_command"),
    "lineage": ("interlink.cli.lineage", "lineage_group"),
    "monitors": ("interlink.cli.monitors", "monitors_group"),
    "products": ("interlink.cli.products", "products_group"),
    "routes": ("interlink.cli.routes", "routes_group"),
    "schema": ("interlink.cli.estate", "schema_command"),
    "secrets": ("interlink.cli.secrets", "secrets_group"),
    "serve": ("interlink.cli.serve", "serve_command"),
    "sources": ("interlink.cli.sources", "sources_group"),
}


class Commands(click.Group):
    """The top-level group, its commands imported on first use (:data:`COMMANDS`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = COMMANDS.get(cmd_name)
        if found is None:
            return None
        command = getattr(importlib.import_module(found[0]), found[1])
        assert isinstance(command, click.Command)
        return command


@click.group(
    cls=Commands,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="interlink")
def cli() -> None:
    """Interlink: your integration estate as code, and the platform that runs it."""


def main(argv: list[str] | None = None) -> None:
    try:
        code = cli.main(args=argv, prog_name="interlink", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interlink: interrupted", err=True)
        code = 130
    except click.ClickException as exc:
        exc.show()
        code = 2 if exc.exit_code == 1 else exc.exit_code
    except InterlinkError as exc:
        click.echo(f"interlink: error: {exc.message}", err=True)
        code = 2
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:  # a bug: still one line, unless asked for the traceback
        if os.environ.get("INTERLINK_DEBUG") == "1":
            traceback.print_exc()
        click.echo(
            f"interlink: internal error: {type(exc).__name__}: {exc} "
            "(INTERLINK_DEBUG=1 shows the traceback)",
            err=True,
        )
        code = 2
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
