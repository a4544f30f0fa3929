"""The bounded LRU map behind the findings memo and the bearer-token memo."""

from rag_dx.lru import BoundedLRU


def test_reading_refreshes_and_the_oldest_goes_first() -> None:
    m: BoundedLRU[str, int] = BoundedLRU(2)
    m.put("a", 1), m.put("b", 2)
    assert m.get("a") == 1  # "a" is now the newest
    m.put("c", 3)
    assert list(m) == ["a", "c"] and m.get("b") is None
    m.limit = 1
    m.put("d", 4)
    assert list(m) == ["d"] and len(m) == 1
    m.limit = 0
    m.put("e", 5)
    assert len(m) == 0
    m.limit = 2
    m.put("f", 6)
    m.clear()
    assert len(m) == 0 and m.get("f") is None
