"""The `rag-dx` command line: the Typer app assembled from the command modules in rag_dx/commands.

Heavy imports happen inside commands, so `rag-dx --help` is instant and nothing loads at import.
Expected failures (RagDxError) print one line naming the problem and exit with status 2
(:func:`rag_dx.commands.common.cli_errors`); they never echo report text.

    rag-dx index build|update|rebuild|rollback|verify|gc|list   rag_dx/commands/index.py
    rag-dx diagnose, demo, models prepare                        rag_dx/commands/diagnose.py
    rag-dx eval, bench                                           rag_dx/commands/evaluate.py
    rag-dx finetune encoder|generator                            rag_dx/commands/finetune.py
    rag-dx ui, feedback export                                   rag_dx/commands/ui.py
    rag-dx serve, api-token add                                  rag_dx/commands/serve.py
    rag-dx audit verify, deid check                              rag_dx/commands/admin.py
    rag-dx monitor                                               rag_dx/commands/monitor.py
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from rag_dx.commands.admin import audit_app, deid_app
from rag_dx.commands.common import fail
from rag_dx.commands.diagnose import demo, diagnose, models_app
from rag_dx.commands.evaluate import bench, eval_command
from rag_dx.commands.finetune import finetune_app
from rag_dx.commands.index import index_app
from rag_dx.commands.monitor import monitor
from rag_dx.commands.serve import api_token_app, serve
from rag_dx.commands.ui import feedback_app, ui
from rag_dx.errors import RagDxError

app = typer.Typer(help="rag-dx: retrieval-augmented diagnostic decision support (for clinicians, not a replacement).",
                  no_args_is_help=True, pretty_exceptions_enable=False)


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[Optional[Path], typer.Option(help="TOML settings file (default ./rag-dx.toml)")] = None,
) -> None:
    """rag-dx: ranked, cited differentials from a practice's own reports and guidelines."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Before torch loads libgomp: spinning OpenMP threads make torch 10-20x slower on a 2-core
    # machine that is doing anything else (13 s vs 0.9 s per scoring pass, measured).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if config is not None:
        if not config.is_file():
            fail(RagDxError(f"settings file not found: {config}"))
        # settings read the file from RAG_DX_CONFIG; put back what was there when the command ends, so
        # an in-process caller (a test, a notebook using CliRunner) does not keep this file afterwards
        previous = os.environ.get("RAG_DX_CONFIG")
        os.environ["RAG_DX_CONFIG"] = str(config)
        ctx.call_on_close(lambda: _restore_env("RAG_DX_CONFIG", previous))


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


app.add_typer(index_app, name="index")
app.add_typer(models_app, name="models")
app.add_typer(deid_app, name="deid")
app.add_typer(feedback_app, name="feedback")
app.add_typer(audit_app, name="audit")
app.add_typer(finetune_app, name="finetune")
app.add_typer(api_token_app, name="api-token")
app.command()(diagnose)
app.command()(demo)
app.command("eval")(eval_command)
app.command()(bench)
app.command()(ui)
app.command()(serve)
app.command()(monitor)


if __name__ == "__main__":  # pragma: no cover
    app()
