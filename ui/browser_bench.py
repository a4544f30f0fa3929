"""Measure, in a real browser, the time from pressing Send to the differential appearing; save a screenshot.

    python -m ui.browser_bench --index demo --screenshot docs/screenshot.png --out ui-latency.json

Runs the real pipeline (settings' encoder, generator and adapter, the real de-identifier) on
the named index, serves the app on a free loopback port, and drives Debian's chromium with
Playwright through a few cases, pressing "New case" between them. Feedback and audit records go
to a temporary directory unless --state-dir is given. Prints (and with --out writes) JSON with
each case's browser latency and the server-side diagnose time, and their medians.

Needs: `apt-get install -y chromium chromium-driver` and `pip install playwright`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from eval.bench.cases import CASES  # the benchmarks' query cases (re-exported)

__all__ = ["CASES", "main", "measure"]

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def measure(url: str, cases: tuple[str, ...] | list[str], *, chromium: str = "/usr/bin/chromium",
            screenshot: Path | None = None, audit_path: Path | None = None) -> dict:
    """Drive the UI at `url` through `cases`; return latencies (ms) and their medians."""
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.locator("#rdx-input textarea").wait_for(timeout=30_000)
        for i, case in enumerate(cases):
            if i > 0:  # wait until "New case" has cleared the panel, or it would clear the typed text too
                page.locator("#rdx-new").click()
                page.locator("#rdx-empty").wait_for(timeout=30_000)
            page.locator("#rdx-input textarea").fill(case)
            t0 = time.perf_counter()
            page.locator("#rdx-send").click()
            page.locator("#rdx-differential-table").wait_for(timeout=120_000)
            browser_ms = (time.perf_counter() - t0) * 1000
            top = page.locator("#rdx-differential-table tr.rdx-row .rdx-dx-name").first.inner_text()
            rows.append({"case": i, "browser_ms": round(browser_ms, 1), "top": top})
            if i == 0 and screenshot is not None:
                page.locator("#rdx-rationale").get_by_text("Check the cited passages").wait_for(timeout=30_000)
                first = page.locator("details.rdx-group").first.locator("details.rdx-passage").first
                first.locator("summary").click()
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    if audit_path is not None and audit_path.exists():
        server = [json.loads(line)["latency_ms"] for line in audit_path.read_text().splitlines()
                  if json.loads(line).get("event") == "query"]
        for row, ms in zip(rows, server[-len(rows):]):
            row["server_diagnose_ms"] = ms
    out = {"cases": rows, "median_browser_ms": statistics.median(r["browser_ms"] for r in rows)}
    if rows and "server_diagnose_ms" in rows[0]:
        out["median_server_diagnose_ms"] = statistics.median(r["server_diagnose_ms"] for r in rows)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default=None, help="index name (default: settings.index_name)")
    parser.add_argument("--screenshot", type=Path, default=None, help="save the first answered case here")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON result here")
    parser.add_argument("--state-dir", type=Path, default=None, help="feedback/audit dir (default: a temp dir)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--repeat", type=int, default=1, help="run the case list this many times")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from rag_dx.audit import AuditLog
    from rag_dx.diagnose import build_assistant
    from rag_dx.feedback import FeedbackStore
    from rag_dx.ingest.deid import Deidentifier
    from rag_dx.settings import load_settings

    from ui.app import build_app
    from ui.testing import serving

    state = args.state_dir or Path(tempfile.mkdtemp(prefix="rag-dx-ui-bench-"))
    settings = load_settings()
    t0 = time.perf_counter()
    assistant = build_assistant(settings, args.index)
    deid = Deidentifier.load()
    load_s = time.perf_counter() - t0
    audit = AuditLog(state / "audit.jsonl")
    demo = build_app(assistant, feedback_store=FeedbackStore.open(state / "feedback.sqlite"), audit_log=audit,
                     deidentifier=deid)
    with serving(demo) as url:
        result = measure(url, list(CASES) * args.repeat, chromium=args.chromium, screenshot=args.screenshot,
                         audit_path=audit.path)
    result.update({"index": assistant.versions.index, "encoder": assistant.versions.encoder,
                   "generator": assistant.versions.generator, "adapter": assistant.versions.adapter,
                   "load_s": round(load_s, 1), "cpus": os.cpu_count(),
                   "loadavg_1m": round(os.getloadavg()[0], 2)})
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
