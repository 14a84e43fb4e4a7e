"""The `interlink` command: a thin layer over the library, one module per command group.

Every failure ends as one readable line on stderr and an exit code: 0 fine, 1 findings or an
incompatible change, 2 could not run. A traceback is shown only with INTERLINK_DEBUG=1.
"""

from __future__ import annotations

import os
import sys
import traceback

import click

from interlink import __version__
from interlink.cli.admin import admin_group
from interlink.cli.alerts import alerts_group
from interlink.cli.apply import apply_command
from interlink.cli.audit import audit_group
from interlink.cli.catalog import catalog_group
from interlink.cli.check import check_command
from interlink.cli.compliance import compliance_group
from interlink.cli.connectors import connectors_group
from interlink.cli.consumers import consumers_group
from interlink.cli.demo import demo_command
from interlink.cli.diff import diff_command
from interlink.cli.estate import graph_command, init_command, schema_command
from interlink.cli.events import dlq_group, events_group
from interlink.cli.export import export_group
from interlink.cli.flows import flows_group
from interlink.cli.inventory import impact_command, inventory_command
from interlink.cli.lineage import lineage_group
from interlink.cli.monitors import monitors_group
from interlink.cli.products import products_group
from interlink.cli.routes import routes_group
from interlink.cli.serve import serve_command
from interlink.cli.sources import sources_group
from interlink.errors import InterlinkError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="interlink")
def cli() -> None:
    """Interlink: your integration estate as code, and the platform that runs it."""


for command in (
    check_command,
    diff_command,
    schema_command,
    graph_command,
    export_group,
    init_command,
    serve_command,
    apply_command,
    demo_command,
    admin_group,
    alerts_group,
    audit_group,
    consumers_group,
    routes_group,
    events_group,
    dlq_group,
    flows_group,
    monitors_group,
    connectors_group,
    sources_group,
    products_group,
    inventory_command,
    impact_command,
    lineage_group,
    compliance_group,
    catalog_group,
):
    cli.add_command(command)


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
