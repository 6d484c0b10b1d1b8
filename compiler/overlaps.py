"""Which distinct patterns of two owners meet, without trying every pair of patterns.

Two patterns can only meet when one's literal prefix starts the other's (they have
the same scheme, and every resource a pattern matches starts with its prefix). So
each pattern looks up only the buckets of patterns whose prefix is a prefix of its
own (or equal): every meeting pair is found once from the side with the longer
prefix. An owner is whatever holds patterns (a group of tasks, an agent); once an
owner pair is `settled` (it has its witness already, or can never conflict) no
pattern pair between them is intersected again, and a whole bucket whose owners
are all settled with ours is skipped at once. So two tasks with 2,000 patterns
each cost one intersection, not four million.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import lru_cache

from lanes.compiler.patterns import compile_pattern, intersect

CHEAP = 64           # owner pairs tested one by one below this product; above it, pattern by pattern

# The witness of two pattern texts: the domain proof meets the same pair again in its
# passes (groups' writers against writers, then agents' writers for W401)
_witness = lru_cache(maxsize=1 << 16)(intersect)


class PrefixTable:
    """Distinct patterns by scheme and literal prefix, with the owners of each bucket."""

    def __init__(self, owners: Mapping[str, Sequence[int]]) -> None:
        self.buckets: dict[tuple[str, str], list[str]] = {}
        self.lengths: dict[str, list[int]] = {}
        for text in sorted(owners):
            c = compile_pattern(text)
            self.buckets.setdefault((c.scheme, c.literal_prefix), []).append(text)
        for scheme, prefix in self.buckets:
            self.lengths.setdefault(scheme, []).append(len(prefix))
        for scheme, lens in self.lengths.items():
            self.lengths[scheme] = sorted(set(lens))
        self.owners_of: dict[tuple[str, str], frozenset[int]] = {
            key: frozenset(o for t in texts for o in owners[t]) for key, texts in self.buckets.items()}

    def shorter(self, scheme: str, pre: str) -> Iterator[tuple[tuple[str, str], list[str]]]:
        """The buckets whose prefix is a prefix of (or equal to) `pre`, a pattern's literal
        prefix in `scheme`."""
        buckets = self.buckets
        for n in self.lengths.get(scheme, ()):
            if n > len(pre):
                break
            key = (scheme, pre[:n])
            bucket = buckets.get(key)
            if bucket is not None:
                yield key, bucket


# (owner on the left, owner on the right, worth a deeper look): may they be left alone?
Settled = Callable[[int, int, bool], bool]
Meeting = tuple[str, str, str]                 # left pattern, right pattern, witness


DEEP = 8             # a bucket of at least this many patterns is worth a deeper look at its owners


def _all_settled(left: Sequence[int] | frozenset[int], right: Sequence[int] | frozenset[int],
                 settled: Settled, deep: bool) -> bool:
    if len(left) * len(right) > CHEAP:
        return False
    for a in left:                      # loops, not all() over a generator: a call per bucket
        for b in right:
            if not settled(a, b, deep):
                return False
    return True


def meetings(left: Mapping[str, Sequence[int]], right: Mapping[str, Sequence[int]],
             settled: Settled, found: Callable[[Meeting], None],
             tables: dict[int, PrefixTable] | None = None) -> None:
    """Call `found` for every pair (left pattern, right pattern) that meets, with a witness,
    except pairs all of whose owner pairs are settled when they come up (`found` may
    settle some). Left and right may be the same mapping: each unordered pair once.
    `tables` keeps the tables built, by the id of their mapping, for the next call."""
    same = left is right
    tables = {} if tables is None else tables
    for owners in (left, right):
        if id(owners) not in tables:
            tables[id(owners)] = PrefixTable(owners)
    left_table, right_table = tables[id(left)], tables[id(right)]
    seen: set[tuple[str, str]] = set()

    def flipped(a: int, b: int, deep: bool) -> bool:      # owners seen from the right side
        return settled(b, a, deep)

    def probe(lp: str, table: PrefixTable, lp_is_left: bool) -> None:
        mine = left[lp] if lp_is_left else right[lp]
        c = compile_pattern(lp)
        for key, bucket in table.shorter(c.scheme, c.literal_prefix):
            theirs = table.owners_of[key]
            if _all_settled(mine, theirs, settled if lp_is_left else flipped, len(bucket) >= DEEP):
                continue
            tie = key[1] == c.literal_prefix                       # found from both sides
            for q in bucket:
                w, r = (lp, q) if lp_is_left else (q, lp)
                pair = (w, r) if not same or w <= r else (r, w)
                if tie:
                    if pair in seen:
                        continue
                    seen.add(pair)
                if _all_settled(left[pair[0]], right[pair[1]], settled, False):
                    continue
                witness = _witness(pair[0], pair[1])
                if witness is not None:
                    found((pair[0], pair[1], witness))

    for lp in left:
        probe(lp, right_table, True)
    if not same:
        for rp in right:
            probe(rp, left_table, False)
