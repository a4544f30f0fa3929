"""The `rag-dx` commands, one module per job; :mod:`rag_dx.cli` assembles them into the Typer app.

Each command is a typed function whose docstring is its help, wrapped by
:func:`rag_dx.commands.common.cli_errors`. Heavy imports happen inside commands, so `rag-dx --help`
is instant and nothing loads at import. These modules (and only these, with the CLI) may import
``eval``, ``finetune`` and ``ui``, lazily.
"""
