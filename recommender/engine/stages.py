"""The ranking stages of one related list, in order, and the trace of what each one did.

For one query (:class:`Query`) over a row space, :class:`Ranking` runs:

1. **pins** - the editors' pins of the article that may be shown;
2. **candidates** - the best rows by cosine similarity (a corpus article's precomputed
   neighbour list, else the model's index) plus every live row sharing a term;
3. **filters** - the hard rules (the article itself, takedowns, unpublished, blocked,
   excluded, section/language/tag filters, time window), the same story as the article and
   the similarity floor; more candidates are asked for when these emptied the list;
4. **feedback** - the query expanded by its best candidates re-scores them;
5. **recency** - the similarity weighed by the age gap;
6. **collapse** - near-duplicates among the best candidates show once;
7. **diversity** - maximal marginal relevance over a larger pool (when asked);
8. **fallback** - the latest stories of the article's section fill empty slots (when asked).

With ``debug``, a :class:`Trace` records every candidate a stage dropped and why; without,
the stages run the same way with a trace that records nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..model.lsa import blend as lsa_blend
from ..ranking import options as ranking
from ..ranking.explain import explain_vectors
from ..ranking.options import FEEDBACK_DOCS, NAT, RankingOptions
from ..state.editorial import Snapshot
from .results import REASON_FALLBACK, REASON_PINNED, REASON_SIMILAR, RankedItem, RelatedResult
from .rows import _NO_PAIRS, RowSpace


@dataclass
class Query:
    """What a list is for: a story of the row space or a draft."""

    get_vector: Callable[[], sp.csr_matrix]  # lazy: the neighbour lists need no vector
    self_row: int | None  # the article's row in the row space (never shown)
    article_id: str | None
    corpus_article: bool  # a corpus article not replaced by a live version
    reference: int  # ns since epoch, NAT if unknown
    section: str | None
    language: str | None
    story: int = -1
    #: A draft's ``(columns, weights)``: candidates need no scipy matrix.
    terms: tuple[np.ndarray, np.ndarray] | None = None
    _vector: sp.csr_matrix | None = None
    #: The vector was replaced by one expanded by relevance feedback (see ``_feedback``).
    expanded: bool = False

    @property
    def vector(self) -> sp.csr_matrix:
        if self._vector is None:
            self._vector = self.get_vector()
        return self._vector


class Untraced:
    """The trace of a list without ``debug``: records nothing."""

    enabled = False

    def restart(self) -> None:
        """A new round of candidates (more were asked for): forget the previous round."""

    def drop(self, rows: np.ndarray, mask: np.ndarray | None, reason: str,
             detail: str = "") -> None:
        """``rows[mask]`` were dropped for ``reason`` (the first reason of a row wins)."""

    def drop_codes(self, rows: np.ndarray, codes: np.ndarray) -> None:
        """``rows`` broke the hard rules of ``codes`` (``ranking.REASON_CODES``; 0: none)."""

    def collapsed(self, pool: np.ndarray, shown: np.ndarray | None,
                  leader: np.ndarray | None, space: RowSpace) -> None:
        """The pool members not ``shown`` are near-duplicates of their group's leader."""

    def unpicked(self, pool: np.ndarray, live_pos: np.ndarray, picked: np.ndarray,
                 reason: str) -> None:
        """The shown pool members (``live_pos``) not ``picked`` for the list."""

    def report(self, rows: np.ndarray, sims: np.ndarray, items: list[RankedItem],
               opts: RankingOptions, snap: Snapshot, space: RowSpace
               ) -> dict[str, Any] | None:
        """The ``debug`` part of the result (None: not traced)."""
        return None


@dataclass
class Trace(Untraced):
    """What the stages dropped (``debug``): row -> (reason, detail)."""

    reasons: dict[int, tuple[str, str]] = field(default_factory=dict)
    enabled = True

    def restart(self) -> None:
        self.reasons = {}

    def add(self, rows: Iterable[int], reason: str, detail: str = "") -> None:
        for row in rows:
            self.reasons.setdefault(int(row), (reason, detail))

    def drop(self, rows: np.ndarray, mask: np.ndarray | None, reason: str,
             detail: str = "") -> None:
        if mask is not None:
            self.add(rows[mask], reason, detail)

    def drop_codes(self, rows: np.ndarray, codes: np.ndarray) -> None:
        for reason_code in np.unique(codes[codes > 0]):
            self.add(rows[codes == reason_code], ranking.REASON_CODES[reason_code])

    def collapsed(self, pool: np.ndarray, shown: np.ndarray | None,
                  leader: np.ndarray | None, space: RowSpace) -> None:
        if leader is None or shown is None:
            return
        for pos in np.flatnonzero(~shown):
            kept = np.flatnonzero(shown & (leader == leader[pos]))
            other = space.id_of(int(pool[kept[0]])) if kept.size else ""
            self.add([pool[pos]], ranking.DROP_DUPLICATE, f"near-duplicate of {other}")

    def unpicked(self, pool: np.ndarray, live_pos: np.ndarray, picked: np.ndarray,
                 reason: str) -> None:
        chosen = set(picked.tolist())
        self.add([pool[p] for p in live_pos if p not in chosen], reason)

    def report(self, rows: np.ndarray, sims: np.ndarray, items: list[RankedItem],
               opts: RankingOptions, snap: Snapshot, space: RowSpace
               ) -> dict[str, Any] | None:
        shown_ids = {item.id for item in items}
        dropped = []
        for row in rows[np.lexsort((rows, -sims))][:max(opts.pool, 3 * opts.k)]:
            entry = self.reasons.get(int(row))
            if entry is None or entry[0] == ranking.DROP_SELF:
                continue
            rid = space.id_of(int(row))
            if rid in shown_ids:
                continue
            item = {"id": rid, "reason": entry[0],
                    "similarity": round(float(sims[rows == row][0]), 6)}
            if entry[1]:
                item["detail"] = entry[1]
            dropped.append(item)
        return {"options": opts.to_dict(), "state_version": snap.version,
                "candidates": int(rows.size), "dropped": dropped}


UNTRACED = Untraced()


class Ranking:
    """One related list: the stages (see the module docstring) over one query.

    ``killed`` marks the rows a takedown hides (per snapshot and row space, cached by the
    engine); ``clock`` gives "now" (pin expiry); ``use_pins=False``: the article's pins go
    to another slot of the answer, not this list.
    """

    def __init__(self, space: RowSpace, query: Query, opts: RankingOptions, snap: Snapshot,
                 killed: np.ndarray, clock: Callable[[], dt.datetime],
                 trace: Untraced = UNTRACED, *, use_pins: bool = True) -> None:
        self.space, self.model = space, space.model
        self.query, self.opts, self.snap, self.killed = query, opts, snap, killed
        self.clock, self.trace = clock, trace
        self.use_pins = use_pins

    def run(self, article: dict[str, Any]) -> RelatedResult:
        query, opts, space, trace = self.query, self.opts, self.space, self.trace
        pins = self.pins()
        slots = max(opts.k - len(pins), 0)
        rows, sims, cand, sim = self.candidates(slots)
        sim = self.feedback(cand, sim)
        factor = self.recency(cand)
        adjusted = sim if factor is None else sim * factor
        # Best first, ties by position (what ranking.top_positions returns), positives only;
        # pins are shown first anyway.
        if adjusted.size <= 512:
            ranked = np.argsort(-adjusted, kind="stable")
            ranked = ranked[adjusted[ranked] > 0]
            if pins:
                ranked = ranked[~np.isin(cand[ranked], pins)]
        else:
            eligible = ~np.isin(cand, pins) if pins else np.ones(cand.size, dtype=bool)
            ranked = ranking.top_positions(adjusted, eligible, adjusted.size)
        # Near-duplicates show once: only the best 2 x k are compared unless the collapse
        # empties slots (pairwise cosines cost the most here); diversity reads a larger pool.
        available = ranked.size
        size = opts.pool if opts.diversity > 0 else max(2 * slots, 4)
        while True:
            pool_pos = ranked[:size]
            pool = cand[pool_pos]
            pool_adj = adjusted[pool_pos]
            shown, leader = self.collapse(pool, pool_adj)
            count = pool.size if shown is None else int(np.count_nonzero(shown))
            if count >= slots or size >= available:
                break
            size = min(size * 2, available)
        trace.collapsed(pool, shown, leader, space)
        live_pos = np.arange(pool.size) if shown is None else np.flatnonzero(shown)
        picked = self.diversify(pool, pool_adj, live_pos, slots)

        items = []
        if pins:
            sim_of = dict(zip(cand.tolist(), sim.tolist(), strict=True))
            items = [self.item(r, REASON_PINNED, sim_of.get(r), 1.0) for r in pins]
        picked_pos = pool_pos[picked]
        items += self.items(cand[picked_pos].tolist(), sim[picked_pos].tolist(),
                            factor[picked_pos].tolist() if factor is not None
                            else [1.0] * picked_pos.size)
        trace.unpicked(pool, live_pos, picked,
                       ranking.DROP_DIVERSITY if opts.diversity > 0 else "outranked")

        if opts.fallback and len(items) < opts.k and query.section is not None:
            taken = set(pins) | {int(pool[p]) for p in picked}
            for row in self.latest_in_section(taken, opts.k - len(items)):
                items.append(self.item(row, REASON_FALLBACK, None, 1.0))

        return RelatedResult(article=article, items=items, options=opts,
                             state_version=self.snap.version,
                             debug=trace.report(rows, sims, items, opts, self.snap, space))

    # ------------------------------------------------------------------ pins
    def pins(self) -> list[int]:
        """Rows of the active pins of the article that may be shown (takedowns and blocks
        win over pins; unknown or unpublished ids are skipped)."""
        query, opts, snap, space = self.query, self.opts, self.snap, self.space
        if query.article_id is None or not self.use_pins:
            return []
        pin = snap.pins.get(query.article_id)
        if pin is None or not pin.active(self.clock()):
            return []
        blocked = snap.blocks.get(query.article_id, frozenset())
        rows: list[int] = []
        for pid in pin.ids:
            row = space.row_of(pid)
            if row is None or row == query.self_row or self.killed[row] or pid in blocked:
                continue
            if opts.status == "published" and not space.published[row]:
                continue
            rows.append(row)
        return rows[:opts.k]

    # ------------------------------------------------------- candidates, filters
    def candidates(self, slots: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The candidates as found (rows, cosines) and those that pass the filters (rows,
        cosines); more are asked for while the filters leave fewer than ``2 * slots + 4``.

        A corpus article starts from its precomputed neighbour list (no query at all).
        """
        query, opts = self.query, self.opts
        lists = getattr(self.model, "neighbors_", None)
        width = lists.shape[1] if lists is not None else 0
        n = max(opts.pool, 10 * opts.k, 100)
        if query.corpus_article and width >= 2 * opts.k + 4:
            n = width
        while True:
            self.trace.restart()
            rows, sims, more, from_lists = self.candidate_rows(n)
            keep = self.hard_rules(rows, from_lists)
            cand, sim = (rows, sims) if keep is None else (rows[keep], sims[keep])
            drop = self.same_story_or_below_floor(cand, sim)
            if drop is not None and drop.any():
                keep = ~drop
                cand, sim = cand[keep], sim[keep]
            if not more or cand.size >= 2 * slots + 4:
                return rows, sims, cand, sim
            n *= 4

    def candidate_rows(self, n: int) -> tuple[np.ndarray, np.ndarray, bool, bool]:
        """Up to ``n`` best corpus rows (``model.candidates``) plus every live row sharing a
        term, with their cosines; whether more corpus candidates may exist; whether the
        rows are exactly a neighbour list (published corpus rows, never the article)."""
        model, query, space = self.model, self.query, self.space
        published_only = self.opts.status == "published"
        exact = n >= space.n_corpus
        from_lists = False
        if query.corpus_article:
            lists = getattr(model, "neighbors_", None)
            if published_only and not exact and lists is not None and n <= lists.shape[1]:
                # The precomputed list, read directly (what model.candidates returns).
                rows = np.asarray(lists[query.self_row, :n], dtype=np.int64)
                sims = np.asarray(model.neighbor_scores_[query.self_row, :n],
                                  dtype=np.float64)
                if rows.size and rows[-1] < 0:  # short list padded with -1
                    valid = rows >= 0
                    rows, sims = rows[valid], sims[valid]
                from_lists = True
            else:
                lsa = self.query_lsa() if model.has_lsa else None
                rows, sims = model.candidates(article_id=query.article_id, n=n,
                                              published_only=published_only, exact=exact,
                                              query_lsa=lsa)
        else:
            lsa = self.query_lsa() if model.has_lsa else None
            rows, sims = model.candidates(
                query=query.terms if query.terms is not None else query.vector, n=n,
                published_only=published_only, exact=exact, query_lsa=lsa)
        rows = np.asarray(rows, dtype=np.int64)
        sims = np.asarray(sims, dtype=np.float64)
        more = rows.size >= n and not exact
        if space.live is not None and space.live.n_live:
            live_scores = space.live.scores(query.terms if query.terms is not None
                                            else query.vector)
            live_rows = np.flatnonzero(live_scores > 0)
            if live_rows.size:
                from_lists = False
                live_sims = live_scores[live_rows].astype(np.float64)
                if model.has_lsa:  # scored like the corpus candidates
                    live_sims = lsa_blend(live_sims, space.lsa_cosines(
                        live_rows + space.n_corpus, self.query_lsa()), model.lsa_weight)
                rows = np.concatenate([rows, live_rows + space.n_corpus])
                sims = np.concatenate([sims, live_sims])
        return rows, sims, more, from_lists

    def query_lsa(self) -> np.ndarray:
        """The query's unit topic vector (a model with LSA only): a corpus article's stored
        (smoothed) row, else its vector (a draft's terms, or the query expanded by feedback)
        projected; computed once per list and once more after feedback."""
        query, model = self.query, self.model
        cached = self.__dict__.get("_query_lsa")
        if cached is not None and cached[0] == query.expanded:
            return cached[1]
        if query.corpus_article and not query.expanded and query.self_row is not None:
            z = np.asarray(model.lsa_arrays()[1][query.self_row])
        else:
            z = model.lsa_of_vector(query.terms if query.terms is not None and
                                    not query.expanded else query.vector)
        self.__dict__["_query_lsa"] = (query.expanded, z)
        return z

    def hard_rules(self, rows: np.ndarray, from_lists: bool = False) -> np.ndarray | None:
        """Which of ``rows`` may be shown (None: all). Traced, every dropped row's reason
        is computed; else only the mask, in as few operations as the options allow."""
        if self.trace.enabled:
            codes = self.reason_codes(rows)
            self.trace.drop_codes(rows, codes)
            return codes == 0
        return self.eligible(rows, from_lists)

    def reason_codes(self, rows: np.ndarray) -> np.ndarray:
        """Why each of ``rows`` cannot be shown (index into ``ranking.REASON_CODES``)."""
        query, opts, snap, space = self.query, self.opts, self.snap, self.space
        code = np.zeros(rows.size, dtype=np.int8)

        def mark(bad: np.ndarray, reason: str) -> None:
            code[(code == 0) & bad] = ranking.REASON_CODES.index(reason)

        if query.self_row is not None:
            mark(rows == query.self_row, ranking.DROP_SELF)
        mark(self.killed[rows], ranking.DROP_KILLED)
        if opts.status == "published":
            mark(~space.published[rows], ranking.DROP_UNPUBLISHED)
        elif space.live is not None and space.live.hidden_rows.size:
            mark(np.isin(rows, space.live.hidden_rows), ranking.DROP_UNPUBLISHED)
        if query.article_id is not None and query.article_id in snap.blocks:
            mark(np.isin(rows, space.rows_of(snap.blocks[query.article_id])),
                 ranking.DROP_BLOCKED)
        if opts.exclude:
            mark(np.isin(rows, space.rows_of(opts.exclude)), ranking.DROP_EXCLUDED)
        sections = space.section_codes[rows]
        if opts.section:
            wanted = [space.section_code(s) for s in opts.section]
            mark(~np.isin(sections, wanted), ranking.DROP_FILTERED)
        if opts.exclude_sections:
            unwanted = [space.section_code(s, "exclude_sections")
                        for s in opts.exclude_sections]
            mark(np.isin(sections, unwanted), ranking.DROP_FILTERED)
        language = opts.language if opts.language is not None else query.language
        if language is not None and language.lower() != "any" and space.languages:
            mark(space.language_codes[rows] != space.language_code(language),
                 ranking.DROP_FILTERED)
        if opts.tags:
            pending = np.flatnonzero(code == 0)
            ok = ranking.tags_mask(space.tags[rows[pending]], opts.tags, opts.tags_mode)
            code[pending[~ok]] = ranking.REASON_CODES.index(ranking.DROP_FILTERED)
        if (opts.since or opts.until or opts.max_age_days is not None
                or opts.direction != "any"):
            inside = ranking.window_mask(
                space.timestamps[rows], query.reference, since=ranking.to_ns(opts.since),
                until=ranking.to_ns(opts.until), max_age_days=opts.max_age_days,
                direction=opts.direction)
            mark(~inside, ranking.DROP_TOO_OLD)
        return code

    def eligible(self, rows: np.ndarray, from_lists: bool = False) -> np.ndarray | None:
        """``reason_codes(rows) == 0`` in fewer operations (the common path); None when
        every row is eligible (no array built).

        ``from_lists``: the rows come from a neighbour list, which holds published corpus
        rows only and never the article itself.
        """
        query, opts, snap, space = self.query, self.opts, self.snap, self.space
        plain = (not opts.section and not opts.exclude_sections and not opts.tags
                 and not opts.exclude and opts.since is None and opts.until is None
                 and opts.max_age_days is None and opts.direction == "any"
                 and not (query.article_id is not None and query.article_id in snap.blocks))
        language = opts.language if opts.language is not None else query.language
        if not plain or (language is not None and language.lower() != "any"
                         and space.languages):
            return self.reason_codes(rows) == 0
        ok = ~self.killed[rows] if snap.takedowns else None
        # Unpublished rows: only where the live state hides some, unless they may come
        # from anywhere (a full query).
        check_published = opts.status == "published" and (
            not from_lists or space.published is not space.corpus.published)
        if check_published:
            ok = space.published[rows] if ok is None else ok & space.published[rows]
        if query.self_row is not None and not from_lists:
            ok = rows != query.self_row if ok is None else ok & (rows != query.self_row)
        return ok

    def same_story_or_below_floor(self, cand: np.ndarray, sim: np.ndarray
                                  ) -> np.ndarray | None:
        """The candidates telling the article's own story (near-identical text or the same
        story id) or below the quality floor (on the similarity: an old but close story is
        not junk); None: none. Candidates have a positive similarity, so a floor of 0 drops
        nothing."""
        query, opts = self.query, self.opts
        dup_threshold = opts.duplicate_threshold
        same = sim >= dup_threshold - 1e-6 if dup_threshold is not None else None
        if query.story >= 0:
            story = self.space.story_codes[cand] == query.story
            same = story if same is None else same | story
        low = None
        if opts.min_score > 0:
            low = sim < opts.min_score
            if same is not None:
                low &= ~same
        self.trace.drop(cand, same, ranking.DROP_DUPLICATE, "same story as the article")
        self.trace.drop(cand, low, ranking.DROP_BELOW_FLOOR, f"similarity < {opts.min_score:g}")
        return same if low is None else (low if same is None else same | low)

    # ------------------------------------------------------ feedback, recency
    def feedback(self, cand: np.ndarray, sim: np.ndarray) -> np.ndarray:
        """Relevance feedback: the query plus its closest stories re-scores the candidates
        (what the best matches share, the query's topic, counts more than an incidental
        word). Drafts are short: what their best matches share adds the most to them."""
        query, opts = self.query, self.opts
        weight = opts.draft_feedback if query.article_id is None else opts.feedback
        if weight > 0 and cand.size > FEEDBACK_DOCS:
            lexical = _feedback(query, cand, sim, weight, self.space)
            if self.model.has_lsa:  # the expanded query, projected, blends the same way
                return lsa_blend(lexical, self.space.lsa_cosines(cand, self.query_lsa()),
                                 self.model.lsa_weight)
            return lexical
        return sim

    def recency(self, rows: np.ndarray) -> np.ndarray | None:
        """Recency factors of ``rows``; None when recency is off (a factor of 1)."""
        query, opts, space = self.query, self.opts, self.space
        if (opts.half_life is None and not opts.section_half_life) or query.reference == NAT:
            return None
        # A half-life under a second (valid: any number > 0) overflows the age gap / half-life
        # below; the general path handles that without a RuntimeWarning.
        half_life = opts.half_life
        if opts.section_half_life or half_life is None or half_life < 1e-5:
            codes = space.section_codes[rows]
            half = np.full(rows.size, np.nan if half_life is None else half_life)
            for name, days in opts.section_half_life:
                code = space._section_index.get(name.lower(), -2)
                half[codes == code] = np.nan if days is None else days
            gap = ranking.age_gap_days(space.timestamps[rows], query.reference)
            return ranking.recency_factor(gap, half, opts.recency_floor)
        # The same arithmetic as ranking.age_gap_days + recency_factor, on the timestamps
        # converted once per model (NaN for undated rows gives a factor of 1).
        factor = space.ts_float[rows] - float(query.reference)  # a new array: in place below
        np.abs(factor, out=factor)
        factor /= ranking.NS_PER_DAY  # the age gap in days
        factor /= float(half_life)
        np.power(0.5, factor, out=factor)
        floor = opts.recency_floor
        factor *= 1.0 - floor
        factor += floor
        nan = np.isnan(factor)
        if nan.any():
            factor[nan] = 1.0
        return factor

    # ----------------------------------------------------- collapse, diversity
    def collapse(self, pool: np.ndarray, pool_adj: np.ndarray
                 ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Which members of the pool are shown (None: all) and the near-duplicate group
        leader of each (None: no group)."""
        opts, space = self.opts, self.space
        if pool.size < 2 or (opts.near_duplicate_threshold is None and not space.has_story):
            return None, None
        if opts.near_duplicate_threshold is not None:
            first, second = space.near_duplicate_pairs(pool,
                                                       opts.near_duplicate_threshold - 1e-6)
        else:
            first, second = _NO_PAIRS
        if space.has_story:
            stories = space.story_codes[pool]
            same = (stories[:, None] == stories[None, :]) & (stories[:, None] >= 0)
            np.fill_diagonal(same, False)
            i, j = np.nonzero(same)
            first, second = np.concatenate([first, i]), np.concatenate([second, j])
        if not first.size:
            return None, None
        leader = ranking.group_leaders(pool.size, first, second)
        if (leader == np.arange(pool.size)).all():
            return None, None
        shown = ranking.pick_in_groups(leader, pool_adj, space.timestamps[pool],
                                       opts.collapse_keep)
        return shown, leader

    def diversify(self, pool: np.ndarray, pool_adj: np.ndarray, live_pos: np.ndarray,
                  slots: int) -> np.ndarray:
        """Positions in the pool of the links shown: maximal marginal relevance over the
        shown members when diversity is on, else the best ``slots`` (the pool is sorted)."""
        opts = self.opts
        if opts.diversity > 0 and live_pos.size > 1:
            # MMR reads only the cosines of the links it picks with the others.
            cosines = self.space.pool_cosines(pool[live_pos])
            order = ranking.mmr(pool_adj[live_pos], cosines, slots, opts.diversity)
            return live_pos[order]
        return live_pos[:slots]

    # --------------------------------------------------------------- fallback
    def latest_in_section(self, taken: set[int], need: int) -> list[int]:
        """The newest stories of the article's section that pass the hard rules and are
        not the article's own story (fallback links)."""
        query, opts, space = self.query, self.opts, self.space
        code = space.section_code(query.section) if query.section else -1
        rows = np.flatnonzero((space.section_codes == code) & (space.timestamps != NAT))
        rows = rows[np.argsort(-space.timestamps[rows], kind="stable")]
        out: list[int] = []
        # Scan newest first, checking the same hard rules in small batches.
        for start in range(0, rows.size, 256):
            batch = rows[start:start + 256]
            ok = self.reason_codes(batch) == 0
            for row in batch[ok]:
                row = int(row)
                if row in taken:
                    continue
                if opts.duplicate_threshold is not None and self.cosine(
                        row) >= opts.duplicate_threshold - 1e-6:
                    continue
                out.append(row)
                if len(out) == need:
                    return out
        return out

    # ------------------------------------------------------------------ items
    def cosine(self, row: int) -> float:
        """The similarity of one row with the query (with LSA, the blended score)."""
        cos = float((self.query.vector @ self.space.vector(row).T).toarray()[0, 0])
        if not self.model.has_lsa:
            return cos
        lsa = self.space.lsa_cosines(np.array([row]), self.query_lsa())
        return float(lsa_blend(np.array([cos]), lsa, self.model.lsa_weight)[0])

    def items(self, rows: list[int], sims: list[float], factors: list[float]
              ) -> list[RankedItem]:
        """The ranked links (reason ``similar``): built only for the final few rows."""
        if self.opts.explain:
            return [self.item(r, REASON_SIMILAR, s, f)
                    for r, s, f in zip(rows, sims, factors, strict=True)]
        meta, cache = self.space.meta, self.space.corpus.meta_cache
        out = []
        for row, s, f in zip(rows, sims, factors, strict=True):
            m = cache.get(row) or meta(row)  # live rows are never in the corpus cache
            out.append(RankedItem(m["id"], m["title"], m["url"], m["published_at"],
                                  m["section"], round(min(max(s * f, 0.0), 1.0), 6),
                                  round(min(max(s, 0.0), 1.0), 6), REASON_SIMILAR))
        return out

    def item(self, row: int, reason: str, similarity: float | None, factor: float
             ) -> RankedItem:
        if similarity is None:  # pins and fallbacks: not necessarily among the candidates
            similarity = self.cosine(row)
        similarity = float(similarity)
        meta = self.space.meta(row)
        item = RankedItem(
            id=meta["id"], title=meta["title"], url=meta["url"],
            published_at=meta["published_at"], section=meta["section"],
            score=round(min(max(similarity * float(factor), 0.0), 1.0), 6),
            similarity=round(min(max(similarity, 0.0), 1.0), 6), reason=reason,
        )
        if self.opts.explain:
            topic = (float(self.space.lsa_cosines(np.array([row]), self.query_lsa())[0])
                     if self.model.has_lsa else None)
            item.explanation = explain_vectors(self.model, self.query.vector,
                                               self.space.vector(row),
                                               recency_factor=float(factor),
                                               top=self.opts.explain_terms,
                                               topic_cosine=topic)
        return item


def _feedback(query: Query, cand: np.ndarray, sim: np.ndarray, weight: float,
              space: RowSpace) -> np.ndarray:
    """Cosines of the candidates with the query expanded by its :data:`FEEDBACK_DOCS`
    best candidates (Rocchio pseudo-relevance feedback): ``q + weight * mean(top)``,
    L2-normalised. Sets the query's vector to the expanded one, so that explanations stay
    exact."""
    top = cand[np.argsort(-sim, kind="stable")[:FEEDBACK_DOCS]]
    q = query.vector
    cols, vals = [np.asarray(q.indices)], [np.asarray(q.data, dtype=np.float64)]
    for row in top.tolist():
        c, v = space.terms(row)
        cols.append(c)
        vals.append(v.astype(np.float64) * (weight / top.size))
    col, inverse = np.unique(np.concatenate(cols), return_inverse=True)
    val: np.ndarray = np.bincount(inverse, weights=np.concatenate(vals), minlength=col.size)
    norm = np.sqrt(np.dot(val, val))
    if norm > 0:
        val /= norm
    expanded = sp.csr_matrix((val.astype(np.float32), col.astype(np.int32),
                              [0, col.size]), shape=q.shape)
    query._vector = expanded
    query.expanded = True
    return space.dot(cand, expanded)
