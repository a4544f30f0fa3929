"""rag-dx: retrieval-augmented diagnostic decision support that runs on the practice's own machine.

Decision support for clinicians, never a replacement. Importing this package does no work: models,
indexes and de-identifiers are loaded only by the functions that need them.
"""

__version__ = "0.1.0"
