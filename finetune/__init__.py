"""Fine-tuning recipes: the contrastive clinical encoder and the LoRA candidate scorer.

Both are product commands (``rag-dx finetune encoder`` / ``rag-dx finetune generator``, wired in
the CLI through :mod:`finetune.commands`) that turn a practice's labeled reports into versioned,
self-describing model directories:

* :mod:`finetune.encoder`: sentence-transformers training (MultipleNegativesRankingLoss, a
  no-duplicates batch sampler, an InformationRetrievalEvaluator on a held-out part).
* :mod:`finetune.generator`: a peft LoRA adapter trained on exactly the prompt that
  :meth:`rag_dx.generate.HFGenerator.build_prompt` builds for the diagnosis step.
* :mod:`finetune.calibrate`: a temperature for the final blended probabilities, fitted on a
  validation split and stored with the adapter (``rag_dx_calibration.json``).
* :mod:`finetune.pairs`: training pairs / examples from reports and public clinical text.
* :mod:`finetune.cards`: model cards and JSON manifests.
* ``finetune/recipes/*.toml``: hyperparameters as data (``cpu.toml``, ``gpu.toml``).

Nothing is imported or loaded at import time.
"""
