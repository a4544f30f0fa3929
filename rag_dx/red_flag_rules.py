"""Red-flag rules: the can't-miss diagnoses table (``rag_dx/data/red_flags.tsv``), parsed and validated.

Why data: which diagnoses are can't-miss, what should bring each to mind and which guideline says
so are clinical content, reviewed and changed by people who do not read Python. The table's
header documents the columns and the trigger syntax; this module turns each row into a
:class:`RedFlagRule` and refuses a bad row with ``file:line field 'x': reason``.

Trigger syntax (one string, no nesting, so a row reads as written): clauses joined by ``&``, each
clause a choice of alternatives joined by ``|``: ``Chest pain | Chest tightness & Hyperhidrosis |
"radiat* ... arm*"``. An alternative is an HPO preferred name or id (resolved here, so a typo
fails at load, not silently at run time) or a quoted phrase (``word*`` any word starting so,
``...`` up to three words between). A three-operator grammar with fixed precedence is parsed with
a tokenizer regex; a parser library would add a dependency for less than it saves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rag_dx.errors import InputError
from rag_dx.hpo_tree import HpoTree, load_hpo_tree
from rag_dx.labels import candidate_key

DEFAULT_RULES = Path(__file__).with_name("data") / "red_flags.tsv"
COLUMNS = ("id", "diagnosis", "icd10", "aliases", "trigger", "source", "url")

_ICD_PREFIX = re.compile(r"^[A-Z][0-9][0-9A-Z]?(\.[0-9A-Z]{0,4})?$")
_TOKEN = re.compile(r'\s*(?:(?P<phrase>"[^"]*")|(?P<op>[&|])|(?P<word>[^&|"]*[^&|"\s]))\s*')
_PHRASE_WORD = re.compile(r"^[\w'’-]+\*?$")
_SEP = r"[\s,/-]+"
_GAP = r"(?:[\s,/-]+[\w'’-]+){0,3}"


@dataclass(frozen=True)
class Term:
    """One alternative of a clause: an HPO concept, or a phrase pattern.

    Attributes:
        kind: "concept" or "phrase".
        label: what a flag shows when this term fired: the concept's HPO name or the phrase as
            written (rule data, never case text).
        concept_id: the HPO id (concept terms).
        pattern: the compiled phrase (phrase terms).
    """

    kind: Literal["concept", "phrase"]
    label: str
    concept_id: str | None = None
    pattern: re.Pattern[str] | None = None


@dataclass(frozen=True)
class RedFlagRule:
    """One row of the table: when every clause has a term in the case, `diagnosis` should be considered."""

    rule_id: str
    diagnosis: str
    icd10_prefixes: tuple[str, ...]
    aliases: tuple[str, ...]
    clauses: tuple[tuple[Term, ...], ...]
    source: str
    url: str | None
    line: int

    def names(self, diagnosis: str, icd10: str | None) -> bool:
        """Whether a differential entry (name, ICD-10 code) is this rule's diagnosis."""
        code = (icd10 or "").upper().replace(".", "")
        if code and any(code.startswith(p.replace(".", "")) for p in self.icd10_prefixes):
            return True
        key = f" {candidate_key(diagnosis)} "
        return any(f" {alias} " in key for alias in self.aliases)


def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """Compile a quoted phrase: words (``word*`` = prefix) and ``...`` gaps of up to three words.

    Raises:
        ValueError: an empty phrase, a gap at either end, or a word with characters other than
            letters, digits, ``'``, ``-`` and a final ``*``.
    """
    words = phrase.split()
    if not words:
        raise ValueError("empty phrase")
    if words[0] == "..." or words[-1] == "...":
        raise ValueError(f'"{phrase}": "..." must stand between two words')
    parts: list[str] = []
    for w in words:
        if w == "...":
            parts.append("GAP")
            continue
        if not _PHRASE_WORD.match(w):
            raise ValueError(f'"{phrase}": the word "{w}" may hold letters, digits, \' and - and end in *')
        parts.append(re.escape(w[:-1]) + r"[\w'’-]*" if w.endswith("*") else re.escape(w))
    body, prev_word = "", False
    for p in parts:
        if p == "GAP":
            body += _GAP
            prev_word = True  # the separator before the next word follows
            continue
        body += (_SEP if prev_word else "") + p
        prev_word = True
    return re.compile(rf"(?<![\w'’-]){body}(?![\w'’-])", re.IGNORECASE)


def parse_trigger(text: str, tree: HpoTree) -> tuple[tuple[Term, ...], ...]:
    """Clauses of terms from a trigger string (see the module docstring).

    Raises:
        ValueError: what is wrong with the string (the loader adds file, line and field).
    """
    pos, tokens = 0, []
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            rest = text[pos:].lstrip()
            raise ValueError("unterminated quote" if rest.startswith('"') else f"cannot read from character {pos + 1}")
        tokens.append(m)
        pos = m.end()
    clauses: list[tuple[Term, ...]] = []
    current: list[Term] = []
    expect_term = True
    for m in tokens:
        if m.group("op"):
            if expect_term:
                raise ValueError(f"'{m.group('op')}' without a term before it")
            if m.group("op") == "&":
                clauses.append(tuple(current))
                current = []
            expect_term = True
            continue
        if not expect_term:
            raise ValueError("two terms without '&' or '|' between them")
        current.append(_term(m, tree))
        expect_term = False
    if expect_term:
        raise ValueError("empty trigger" if not tokens else "a trigger cannot end with '&' or '|'")
    clauses.append(tuple(current))
    return tuple(clauses)


def _term(m: re.Match[str], tree: HpoTree) -> Term:
    if m.group("phrase"):
        phrase = m.group("phrase")[1:-1].strip()
        return Term("phrase", phrase.replace("*", "…").replace(" ... ", " … "), pattern=phrase_pattern(phrase))
    name = m.group("word").strip()
    hid = tree.resolve(name)
    if hid is None:
        raise ValueError(f"'{name}' is not an HPO preferred name or id (quote it to match it as a phrase)")
    return Term("concept", tree.names[hid].lower(), concept_id=hid)


def load_red_flag_rules(path: Path | None = None, *, tree: HpoTree | None = None) -> tuple[RedFlagRule, ...]:
    """Read and validate the red-flag table (default: the bundled ``rag_dx/data/red_flags.tsv``).

    Raises:
        InputError: a missing file, a wrong header, or a row with a missing, malformed or
            duplicate field, located as ``file:line field 'name'``.
    """
    path = Path(path) if path is not None else DEFAULT_RULES
    tree = tree or load_hpo_tree()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, None, None, f"cannot read the red-flag table ({type(exc).__name__})") from None
    rules: list[RedFlagRule] = []
    seen: dict[str, int] = {}
    header_seen = False
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        cells = raw.split("\t")
        if not header_seen:
            if tuple(c.strip() for c in cells) != COLUMNS:
                raise InputError(path, lineno, None, f"the header must be the columns {', '.join(COLUMNS)} "
                                 "(tab-separated)")
            header_seen = True
            continue
        if len(cells) != len(COLUMNS):
            raise InputError(path, lineno, None, f"{len(cells)} tab-separated fields; expected {len(COLUMNS)}")
        row = dict(zip(COLUMNS, (c.strip() for c in cells)))
        rules.append(_rule(path, lineno, row, tree, seen))
    if not header_seen:
        raise InputError(path, None, None, "no header line and no rules")
    return tuple(rules)


def _rule(path: Path, lineno: int, row: dict[str, str], tree: HpoTree, seen: dict[str, int]) -> RedFlagRule:
    def bad(field: str, reason: str) -> InputError:
        return InputError(path, lineno, field, reason)

    for field in ("id", "diagnosis", "trigger", "source"):
        if not row[field]:
            raise bad(field, "is empty")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", row["id"]):
        raise bad("id", "use lower-case letters, digits, '-', '_' and '.'")
    if row["id"] in seen:
        raise bad("id", f"duplicate of the rule on line {seen[row['id']]}")
    seen[row["id"]] = lineno
    prefixes = tuple(p.strip().upper() for p in row["icd10"].split("|") if p.strip())
    for p in prefixes:
        if not _ICD_PREFIX.match(p):
            raise bad("icd10", f"'{p}' is not an ICD-10 code prefix (e.g. I21 or E10.1)")
    aliases = tuple(candidate_key(a) for a in row["aliases"].split("|") if candidate_key(a))
    if not prefixes and not aliases:
        raise bad("aliases", "give at least one alias or ICD-10 prefix, or no differential can ever name it")
    url = row["url"] or None
    if url is not None and not url.startswith("https://"):
        raise bad("url", "must start with https://")
    try:
        clauses = parse_trigger(row["trigger"], tree)
    except ValueError as exc:
        raise bad("trigger", str(exc)) from None
    return RedFlagRule(rule_id=row["id"], diagnosis=row["diagnosis"], icd10_prefixes=prefixes, aliases=aliases,
                       clauses=clauses, source=row["source"], url=url, line=lineno)
