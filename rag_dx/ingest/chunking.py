"""Cut reports and guideline passages into retrieval chunks measured in encoder tokens.

Why tokens and not characters: the encoder truncates its input (all-MiniLM-L6-v2 at 256 word
pieces), so a chunk longer than that is silently half-embedded. Counting with the encoder's own
tokenizer keeps every chunk fully seen. The splitting itself is LangChain's
`RecursiveCharacterTextSplitter` measuring with the Hugging Face tokenizer (as its
`from_huggingface_tokenizer` does), preferring paragraph, then sentence, line and word boundaries.

Every chunk carries what a citation needs (ids, title, label, source, url, date), so retrieval
never has to go back to the source files.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from rag_dx.schemas import Chunk, Guideline, Report

if TYPE_CHECKING:
    from langchain_text_splitters import TextSplitter

__all__ = ["check_chunk_sizes", "chunk_guidelines", "chunk_reports", "report_title"]


def report_title(report: Report) -> str:
    """The title shown for a report chunk: `Report <id>`, plus the specialty when known."""
    title = f"Report {report.report_id}"
    return f"{title} ({report.specialty})" if report.specialty else title


def check_chunk_sizes(chunk_tokens: int, overlap_tokens: int, *, prefix: str = "") -> None:
    """The one rule for chunk sizes (also `ChunkSettings`' validator): raises ValueError."""
    if chunk_tokens < 1:
        raise ValueError(f"{prefix}chunk_tokens must be at least 1, got {chunk_tokens}")
    if not 0 <= overlap_tokens < chunk_tokens:
        raise ValueError(f"{prefix}overlap_tokens must be in [0, {prefix}chunk_tokens), got {overlap_tokens} "
                         f"with {prefix}chunk_tokens={chunk_tokens}")


# Paragraphs first, then sentences, then lines, then clauses and words. Sentences come before
# lines so that a heading line stays with the first sentence under it: LangChain flushes the
# pieces gathered so far before it recurses into an over-long piece, which would otherwise leave
# a lone heading as a chunk.
SEPARATORS: tuple[str, ...] = ("\n\n", ". ", "? ", "! ", "\n", "; ", ", ", " ", "")


def _token_counter(tokenizer: Any) -> Callable[[str], int]:
    """Number of word pieces in a text, without special tokens, exactly as LangChain's
    `from_huggingface_tokenizer` counts them (`len(tokenizer.tokenize(text))`), but memoized.

    The recursive splitter measures every word of a passage without line breaks, hundreds of
    thousands of calls for a few hundred MedQuAD answers; words repeat, so a cache makes
    chunking about an order of magnitude faster.
    """
    _check_tokenizer(tokenizer)

    @functools.lru_cache(maxsize=1 << 16)
    def count(text: str) -> int:
        return len(tokenizer.tokenize(text))

    return count


def _check_tokenizer(tokenizer: Any) -> None:
    from transformers import PreTrainedTokenizerBase

    if not isinstance(tokenizer, PreTrainedTokenizerBase):
        raise TypeError(
            f"expected a Hugging Face tokenizer (e.g. the encoder's model.tokenizer), got {type(tokenizer).__name__}"
        )


def _splitter(count: Callable[[str], int], chunk_tokens: int, overlap_tokens: int) -> TextSplitter:
    """LangChain's recursive splitter measuring in tokens (what `from_huggingface_tokenizer`
    builds, with the memoized counter and sentence-aware separators)."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        separators=list(SEPARATORS),
        keep_separator="end",
        chunk_size=chunk_tokens,
        chunk_overlap=overlap_tokens,
        length_function=count,
    )


def _split(
    text: str, count: Callable[[str], int], make_splitter: Callable[[int, int], TextSplitter], chunk_tokens: int, overlap_tokens: int
) -> list[str]:
    """Pieces of `text`; a text that fits is returned whole (one chunk, no splitter cost)."""
    text = text.strip()
    if not text:
        return []
    if count(text) <= chunk_tokens:
        return [text]
    pieces = [p.strip() for p in make_splitter(chunk_tokens, overlap_tokens).split_text(text)]
    return [p for p in pieces if p]


def chunk_reports(reports: Sequence[Report], tokenizer: Any, chunk_tokens: int, overlap_tokens: int) -> list[Chunk]:
    """Chunks of (already de-identified) reports.

    Args:
        reports: reports to cut; pass them through `deidentify_reports` first.
        tokenizer: a Hugging Face tokenizer, e.g. the encoder's `model.tokenizer`.
        chunk_tokens: most word pieces per chunk.
        overlap_tokens: word pieces shared by consecutive chunks (smaller than chunk_tokens).

    Returns:
        Chunks with ids `R:{report_id}#{i}`, kind "report", title `Report {id}` (+ specialty),
        label = diagnosis. A report that fits in `chunk_tokens` gives exactly one chunk.

    Example:
        >>> chunks = chunk_reports(reports, encoder.tokenizer, 200, 30)  # doctest: +SKIP
        >>> chunks[0].chunk_id  # doctest: +SKIP
        'R:r87b125d1222c#0'
    """
    check_chunk_sizes(chunk_tokens, overlap_tokens)
    count = _token_counter(tokenizer)
    splitters: dict[tuple[int, int], TextSplitter] = {}

    def make(size: int, overlap: int) -> TextSplitter:
        if (size, overlap) not in splitters:
            splitters[(size, overlap)] = _splitter(count, size, overlap)
        return splitters[(size, overlap)]

    out: list[Chunk] = []
    for report in reports:
        title = report_title(report)
        for i, piece in enumerate(_split(report.text, count, make, chunk_tokens, overlap_tokens)):
            out.append(
                Chunk(
                    chunk_id=f"R:{report.report_id}#{i}",
                    kind="report",
                    doc_id=report.report_id,
                    title=title,
                    text=piece,
                    label=report.diagnosis,
                    icd10=report.icd10,
                    source=report.source,
                    date=report.date,
                )
            )
    return out


def _title_prefix(title: str, count: Callable[[str], int], budget: int) -> str:
    """The title line put in front of later guideline chunks, cut to at most `budget` tokens."""
    line = " ".join(title.split())
    if count(line) <= budget:
        return line
    words = line.split()
    while words and count(" ".join(words) + " ...") > budget:
        words.pop()
    return " ".join(words) + " ..." if words else ""


def chunk_guidelines(
    guidelines: Sequence[Guideline], tokenizer: Any, chunk_tokens: int, overlap_tokens: int
) -> list[Chunk]:
    """Chunks of guideline passages.

    Args:
        guidelines: passages as loaded by `load_guidelines`.
        tokenizer: a Hugging Face tokenizer, e.g. the encoder's `model.tokenizer`.
        chunk_tokens: most word pieces per chunk (the title line included).
        overlap_tokens: word pieces shared by consecutive chunks.

    Returns:
        Chunks with ids `G:{doc_id}#{i}`, kind "guideline", title = the guideline's title,
        label = its topic. The first chunk is the text as it starts (MedQuAD and NGC texts begin
        with their title); every later chunk starts with the title line, so a chunk retrieved on
        its own still says what it is about. The text is split with room left for that line
        (the title is cut to at most a quarter of `chunk_tokens`).
    """
    check_chunk_sizes(chunk_tokens, overlap_tokens)
    count = _token_counter(tokenizer)
    splitters: dict[tuple[int, int], TextSplitter] = {}

    def make(size: int, overlap: int) -> TextSplitter:
        if (size, overlap) not in splitters:
            splitters[(size, overlap)] = _splitter(count, size, overlap)
        return splitters[(size, overlap)]

    out: list[Chunk] = []
    for g in guidelines:
        text = g.text.strip()
        if not text:
            continue
        if count(text) <= chunk_tokens:
            pieces = [text]
            prefix = ""
        else:
            prefix = _title_prefix(g.title, count, max(1, chunk_tokens // 4))
            # +1 for the newline joining prefix and body (tokenizers count none, be safe)
            body_tokens = chunk_tokens - (count(prefix) + 1 if prefix else 0)
            body_tokens = max(body_tokens, 1)
            pieces = _split(text, count, make, body_tokens, min(overlap_tokens, body_tokens - 1))
        for i, piece in enumerate(pieces):
            chunk_text = f"{prefix}\n{piece}" if i > 0 and prefix and not piece.startswith(prefix) else piece
            out.append(
                Chunk(
                    chunk_id=f"G:{g.doc_id}#{i}",
                    kind="guideline",
                    doc_id=g.doc_id,
                    title=g.title,
                    text=chunk_text,
                    label=g.topic,
                    source=g.source,
                    url=g.url,
                    date=g.date,
                )
            )
    return out
