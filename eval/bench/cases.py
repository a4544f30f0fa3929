"""Query cases the benchmarks time (retrieval, encoder, diagnose, and the browser in ui/browser_bench).

Synthetic clinician-style case descriptions written for the project: no patient data.
"""

from __future__ import annotations

CASES: tuple[str, ...] = (
    "58-year-old man with 45 minutes of crushing central chest pressure radiating to the left arm and jaw, "
    "sweating, nausea and shortness of breath. Smoker with hypertension. BP 150/92, HR 104.",
    "34-year-old woman with a throbbing one-sided headache, nausea and sensitivity to light for six hours, "
    "preceded by zigzag lines in her vision.",
    "Burning on urination, urinary frequency and urgency for two days, mild suprapubic pain, no fever.",
    "Sudden fever of 39.4, chills, muscle aches and a dry cough since yesterday; several colleagues are ill.",
    "Right lower quadrant abdominal pain that started around the umbilicus, loss of appetite, vomiting, "
    "low-grade fever, rebound tenderness.",
)
