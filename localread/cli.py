"""The `localread` command line: wires the stages together and renders; nothing else.

Exit codes: 0 success, 1 user error (one line on stderr), 2 usage, 130 Ctrl-C,
3 internal error (traceback in a log file). Each command runs its body inside
`commands.common.guarded`, so the same codes hold under typer's test runner.
"""

from __future__ import annotations

import typer

from localread.commands import explain, map_, models, paper, report, summarize, tour

app = typer.Typer(
    name="localread",
    help="Understand a code repository you did not write, offline, with a local model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _module in (map_, tour, explain, summarize, report, paper, models):
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
