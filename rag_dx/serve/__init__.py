"""The HTTP API (`rag-dx serve`): a FastAPI app over one loaded `Assistant`.

    rag_dx/serve/schemas.py   request / response models (the OpenAPI schema is generated from them)
    rag_dx/serve/auth.py      bearer tokens: `name:secret`, checked against scrypt hashes in a file
    rag_dx/serve/app.py       `create_app(settings, assistant_factory, guards=...)`
    rag_dx/serve/load.py      a bounded loopback load driver (used by the load test and the bench)

The de-identification, the audit record per query, feedback storage and the body-size cap are the
chat UI's own (``ui.service.ClinicianService``, ``ui.hardening.BodyLimit``, ``ui.auth``); they are
handed to `create_app` as `Guards` by `rag_dx.commands.serve`, so that this package imports nothing
from ``ui`` (docs/architecture.md, import rule 1). Nothing here runs at import.
"""
