"""Screenshots of the clinician UI for docs/: the bundled demo index, one synthetic case, PNGs in docs/img/.

Why a script and not a test: the pictures come from the real models (MiniLM encoder, presidio
de-identifier, the demo index's practice model), which the browser tests replace with fakes.
It fails, naming what is missing, when the case no longer shows what the docs describe (a red-flag
notice, the 90% set, matches / against findings, the "to tell A from B" questions), so stale
pictures are not silently regenerated.

Usage (from the repository root, with the dev and ui extras and Debian's chromium installed):

    python scripts/ui_screenshots.py                      # writes docs/img/ui-case.png, docs/img/ui-panel.png
    python scripts/ui_screenshots.py --index-dir /tmp/idx # build / reuse the demo index there

The demo index is built as `rag-dx demo` builds it when the named index has no version yet
(about 1-2 minutes on a laptop CPU). The UI is served on a free loopback port, without login, the
way `rag-dx ui` serves it (with the administrators' Monitoring tab, hidden from this user), and
its feedback store and audit log go to a temporary directory that is removed afterwards.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
from pathlib import Path

#: Obviously synthetic (no name, "Synthetic case:"): fever and neck stiffness make the red-flag rule
#: for bacterial meningitis fire, and the demo index has no meningitis reports, so the notice shows.
CASE = ("Synthetic case: 24-year-old with fever 39, headache, neck stiffness, chills and muscle aches "
        "since this morning. No cough.")
#: What the pictures must show (CSS selector -> what it is), checked before anything is written.
MUST_SHOW = {
    "#rdx-red-flags": "a red-flag notice",
    "#rdx-set": "the 90% conformal set",
    "#rdx-differential-table .rdx-match": "a 'matches:' findings line",
    "#rdx-differential-table .rdx-against": "an 'against:' findings line",
    "#rdx-next-questions .rdx-q": "a 'to tell A from B, ask about' question",
}
MAX_BYTES = 300 * 1024
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img"), help="where the PNGs go (default docs/img)")
    parser.add_argument("--index-dir", type=Path, default=None, help="index directory (default: settings)")
    parser.add_argument("--index", default="demo", help="index name (default demo; built when it has no version)")
    parser.add_argument("--chromium", type=Path, default=Path(os.environ.get("RAG_DX_CHROMIUM", "/usr/bin/chromium")))
    parser.add_argument("--case", default=CASE, help="the case to type (keep it obviously synthetic)")
    return parser.parse_args(argv)


def ensure_demo_index(settings, name: str) -> None:
    """Build the demo index as `rag-dx demo` does, unless `name` already has a version."""
    from rag_dx.build import build_index
    from rag_dx.demo import build_demo_guidelines, demo_reports_path
    from rag_dx.index.store import IndexStore
    from rag_dx.ingest.loaders import load_guidelines, load_reports

    if IndexStore(settings.index_dir, name).current_version() is not None:
        return
    print(f"building the demo index '{name}' in {settings.index_dir} ...", file=sys.stderr, flush=True)
    guideline_file = build_demo_guidelines(Path(settings.cache_dir) / "demo" / "guidelines.jsonl")
    build_index(settings, name, load_reports(demo_reports_path()).reports, load_guidelines(guideline_file),
                sources=[str(demo_reports_path()), str(guideline_file)])


def save_png(png: bytes, path: Path) -> int:
    """Write `png`, re-encoded as a 256-colour palette image when it is over MAX_BYTES; return its size.

    UI screenshots are flat colours and text, so a palette loses nothing visible.
    """
    from PIL import Image

    if len(png) > MAX_BYTES:
        buf = io.BytesIO()
        Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256).save(buf, format="PNG", optimize=True)
        png = buf.getvalue()
    if len(png) > MAX_BYTES:
        raise SystemExit(f"{path}: {len(png)} bytes even as a palette PNG (limit {MAX_BYTES}); use a smaller viewport")
    path.write_bytes(png)
    return len(png)


def take(url: str, case: str, out: Path, chromium: Path) -> dict[str, int]:
    """Type `case`, wait for the answer and the rationale, check MUST_SHOW, save the PNGs; return their sizes."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000}, device_scale_factor=1)
            page.goto(url)
            page.locator("#rdx-input textarea").fill(case)
            page.locator("#rdx-send").click()
            page.locator("#rdx-differential-table").wait_for(timeout=120_000)
            page.locator("#rdx-rationale").get_by_text("Check the cited passages").wait_for(timeout=60_000)
            missing = [what for sel, what in MUST_SHOW.items() if page.locator(sel).count() == 0]
            if missing:
                raise SystemExit("the case no longer shows " + ", ".join(missing) + "; pick another --case")
            page.locator("details.rdx-group[open]").first.evaluate("e => e.open = false")  # the table, not passages
            page.mouse.move(0, 0)
            sizes = {"ui-case.png": save_png(page.screenshot(full_page=False), out / "ui-case.png")}
            sizes["ui-panel.png"] = save_png(page.locator("#rdx-panel").screenshot(), out / "ui-panel.png")
            return sizes
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    if not args.chromium.is_file():
        raise SystemExit(f"no chromium at {args.chromium} (apt-get install -y chromium, or --chromium PATH)")
    from rag_dx.audit import AuditLog
    from rag_dx.diagnose import build_assistant
    from rag_dx.feedback import FeedbackStore
    from rag_dx.ingest.deid import Deidentifier
    from rag_dx.settings import load_settings
    from ui.app import build_app
    from ui.monitor_tab import MonitorPanel
    from ui.testing import serving

    settings = load_settings(**({"index_dir": args.index_dir} if args.index_dir else {}))
    ensure_demo_index(settings, args.index)
    assistant = build_assistant(settings, args.index)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rdx-shots-") as tmp:
        state = Path(tmp)
        demo = build_app(assistant, feedback_store=FeedbackStore.open(state / "feedback.sqlite"),
                         audit_log=AuditLog(state / "audit.jsonl"), deidentifier=Deidentifier.load(),
                         monitor_panel=MonitorPanel.from_settings(settings, state / "audit.jsonl",
                                                                  state / "feedback.sqlite"))
        with serving(demo) as url:
            sizes = take(url, args.case, args.out, args.chromium)
    for name, size in sizes.items():
        print(f"{args.out / name}: {size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
