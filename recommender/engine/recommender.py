"""The newsroom recommender: a fitted model + editorial state + ranking options.

:class:`Recommender` is what the CLI and the HTTP service call (never the ranking stages
directly). For one query it scores every story by cosine similarity (the model), removes
what must not be shown (the article itself, takedowns, unpublished, blocked, excluded,
filtered, outside the time window, below the floor, the same story again), weighs the rest
by recency, collapses near-duplicates, optionally diversifies, puts the editors' pins first
and fills empty slots from the latest stories of the section when asked to (the stages:
:mod:`recommender.engine.stages`; the rows they read: :mod:`recommender.engine.rows`).

``RelatedStories.related()`` stays the model's own similarity lists (no ranking): what the
engine's overhead is measured against (``scripts/measure_ranking.py``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidParameterError, UnknownArticleError, UnusableValueError
from ..model.estimator import RelatedStories
from ..ranking import options as ranking
from ..ranking.explain import explain_vectors
from ..ranking.options import NAT, RankingOptions
from ..ranking.placements import END, INLINE, Placement
from ..state.db import StateDB
from ..state.editorial import Editorial, PinList, Snapshot, Takedown
from ..state.known import CheckedEditorial
from ..state.live import LiveSnapshot
from ..values import _none_if_missing, iso_from_ns
from .placements import Terms, passage_terms, slot_query, split_paragraphs, with_options
from .results import PlacedSlot, RankedItem, RelatedResult
from .rows import CorpusArrays, RowSpace
from .stages import UNTRACED, Query, Ranking, Trace

logger = logging.getLogger(__name__)

_EMPTY_SNAPSHOT = Snapshot(version=0)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@functools.lru_cache(maxsize=256)
def _cached_options(base: RankingOptions, items: tuple[tuple[str, Any], ...]) -> RankingOptions:
    # Repeated requests (same query string) skip re-validation.
    return RankingOptions.from_mapping(dict(items), base=base)


class Recommender:
    """Related stories ranked for a newsroom (see the module docstring).

    Parameters
    ----------
    model : RelatedStories
        A fitted model.
    db : StateDB, optional
        The state database with the editorial controls; without one (and without
        ``editorial``) there are no takedowns, pins or blocks and the editorial methods raise.
    defaults : RankingOptions or mapping, optional
        Options used when a call does not set them (e.g. from the service config, with a
        per-section ``section_half_life`` mapping).
    clock : callable, optional
        Returns "now" (aware datetime): the reference time of drafts, pin expiry.
    editorial : Editorial, optional
        An existing editorial-state handle (shared between engines of successive models).

    Examples
    --------
    >>> import pandas as pd
    >>> from recommender.model.estimator import RelatedStories
    >>> df = pd.DataFrame({"id": ["a", "b", "c"],
    ...                    "title": ["Flood hits city", "City flood aftermath", "Chess final"],
    ...                    "body": ["Rain and flood", "Flood damage counted", "A chess match"]})
    >>> engine = Recommender(RelatedStories(max_df=1.0).fit(df))
    >>> engine.related("a", k=1).ids
    ['b']
    """

    def __init__(self, model: RelatedStories, db: StateDB | None = None, *,
                 defaults: RankingOptions | Mapping[str, Any] | None = None,
                 clock: Callable[[], dt.datetime] | None = None,
                 editorial: Editorial | None = None) -> None:
        model.check_fitted()
        self.model = model
        self.corpus = CorpusArrays(model)
        self.editorial = editorial or (Editorial(db) if db is not None else None)
        self._clock = clock or _utcnow
        self._base = RowSpace(model, self.corpus)
        self._live_space: tuple[LiveSnapshot, RowSpace] | None = None
        self._killed: tuple[int, int, np.ndarray] | None = None
        self._checked: dict[tuple[int, int], RankingOptions] = {}
        #: Validated options of the corpus row space by call options (defaults, options).
        self._checked_base: dict[tuple[Any, ...], tuple[RankingOptions, RankingOptions]] = {}
        if defaults is None or isinstance(defaults, RankingOptions):
            self.defaults = defaults or RankingOptions()
        else:
            self.defaults = RankingOptions.from_mapping(defaults)
        self.check_options(self.defaults)

    # ------------------------------------------------------------- options
    def options(self, k: int | str | None = None, live: LiveSnapshot | None = None,
                **options: Any) -> RankingOptions:
        """Validate call options over the defaults (unknown names/values/sections raise)."""
        if k is not None and not options and k == self.defaults.k:
            return self.defaults
        if k is not None:
            options["k"] = k
        if not options:
            return self.defaults
        try:
            key = tuple(sorted(options.items()))
            hash(key)
        except TypeError:  # lists from JSON: not cacheable
            key = None
        if live is None and key is not None:  # the common case: one dict lookup
            hit = self._checked_base.get(key)
            if hit is not None and hit[0] is self.defaults:
                return hit[1]
        opts = _cached_options(self.defaults, key) if key is not None else \
            RankingOptions.from_mapping(options, base=self.defaults)
        space = self.row_space(live)
        if (id(opts), id(space)) not in self._checked:
            self.check_options(opts, space)
            if key is not None:  # cached options objects live on: remember they passed
                self._checked[(id(opts), id(space))] = opts
        if live is None and key is not None:
            if len(self._checked_base) >= 1024:  # arbitrary query strings: stay bounded
                self._checked_base.clear()
            self._checked_base[key] = (self.defaults, opts)
        return opts

    def check_options(self, opts: RankingOptions, space: RowSpace | None = None) -> None:
        """Sections and languages named by ``opts`` must exist (in the corpus or live)."""
        space = space or self._base
        for name in opts.section:
            space.section_code(name, "section")
        for name in opts.exclude_sections:
            space.section_code(name, "exclude_sections")
        if opts.language is not None and opts.language.lower() != "any":
            space.language_code(opts.language)
        if opts.fallback and not space.sections:
            raise UnusableValueError("fallback", "the corpus has no sections")

    def row_space(self, live: LiveSnapshot | None = None) -> RowSpace:
        """The rows of the corpus plus those of a live snapshot (cached per snapshot)."""
        if live is None:
            return self._base
        cached = self._live_space
        if cached is not None and (cached[0] is live or live.same_rows(cached[0])):
            return cached[1]
        space = RowSpace(self.model, self.corpus, live)
        self._live_space = (live, space)
        return space

    def _snapshot(self) -> Snapshot:
        return self.editorial.snapshot() if self.editorial is not None else _EMPTY_SNAPSHOT

    # ------------------------------------------------------------- queries
    def article(self, article_id: str, live: LiveSnapshot | None = None) -> dict[str, Any]:
        """Metadata of an article (the live version if any; 404 if unpublished)."""
        if live is not None:
            if live.has(article_id):
                return live.article(article_id)
            if article_id in live.tombstones:
                raise UnknownArticleError(article_id)
        row = self.model.row(article_id)
        cached = self.corpus.article_cache.get(row)
        if cached is None:  # the fields of model.article(), dates formatted faster
            m = self.model.meta_
            cached = self.corpus.article_cache[row] = {
                "id": self.model.ids_[row], "title": m["title"][row],
                "url": _none_if_missing(m["url"][row]),
                "published_at": iso_from_ns(int(self.corpus.timestamps[row])),
                "section": _none_if_missing(m["section"][row]),
                "tags": list(m["tags"][row]),
                "language": _none_if_missing(m["language"][row]),
                "status": m["status"][row]}
        return dict(cached)

    def related(self, article_id: str, k: int | str | None = None, *,
                live: LiveSnapshot | None = None, **options: Any) -> RelatedResult:
        """The related list of a story (of the corpus, or a live article).

        Parameters
        ----------
        article_id : str
            The article being read.
        k : int, optional
            Number of links (default: the engine's default, 5).
        live : LiveSnapshot, optional
            Live articles published since the model was trained (candidates too).
        **options
            Any :class:`RankingOptions` field (strings are parsed).

        Raises
        ------
        UnknownArticleError, InvalidParameterError, StateError
        """
        opts = self.options(k, live, **options)
        space = self.row_space(live)
        article = self.article(article_id, live)
        row = space.row_of(article_id)
        if row is None:
            raise UnknownArticleError(article_id)
        lang = space.language_codes[row]
        ts = int(space.timestamps[row])
        if ts == NAT:  # undated: now, unless the whole corpus is undated (recency no-op)
            ts = ranking.to_ns(self._clock()) if space.any_dated else NAT
        query = Query(
            get_vector=lambda: space.vector(row), self_row=row, article_id=article_id,
            corpus_article=row < space.n_corpus, reference=ts,
            section=space.sections[space.section_codes[row]] if space.section_codes[row] >= 0
            else None,
            language=space.languages[lang] if lang >= 0 else None,
            story=int(space.story_codes[row]),
        )
        if opts.placements:
            return self._place(query, opts, space, article, lambda: self._paragraphs(row, space),
                               space.terms(row))
        return self._rank(query, opts, space, article)

    def related_to_text(self, title: str, body: str = "", k: int | str | None = None, *,
                        article_tags: Sequence[str] = (), article_section: str | None = None,
                        article_language: str | None = None,
                        published_at: dt.datetime | str | None = None,
                        live: LiveSnapshot | None = None, **options: Any) -> RelatedResult:
        """The related list of a draft that is not in the corpus.

        ``article_tags`` are the draft's own tags (vectorised with it; ``tags`` is the tag
        filter option). Its reference time is ``published_at`` (default: now);
        ``article_section`` is used by the ``latest_in_section`` fallback (default: the first
        ``section`` filter) and ``article_language`` as the default language filter.
        ``options`` as in :meth:`related`.
        """
        opts = self.options(k, live, **options)
        space = self.row_space(live)
        terms = self.model.draft_terms(title, body, article_tags)
        section, language = article_section, article_language
        if section is None and opts.section:
            section = opts.section[0]
        if section is not None:
            section = space.sections[space.section_code(section, "article_section")]
        if language is not None:
            try:
                language = space.languages[space.language_code(language)]
            except InvalidParameterError as exc:
                raise UnusableValueError("article_language", exc.message) from None
        when = ranking.parse_datetime("published_at", published_at) or self._clock()
        query = Query(get_vector=lambda: self.model.row_vector(*terms), self_row=None,
                       article_id=None, corpus_article=False,
                       reference=ranking.to_ns(when), section=section, language=language,
                       terms=terms)
        if opts.placements:
            return self._place(query, opts, space, {"title": title},
                               lambda: split_paragraphs(body), terms)
        return self._rank(query, opts, space, {"title": title})

    # ------------------------------------------------------------- ranking
    def _killed_mask(self, snap: Snapshot, space: RowSpace) -> np.ndarray:
        cached = self._killed
        if cached is not None and cached[0] == snap.version and cached[1] == id(space):
            return cached[2]
        mask = np.zeros(space.n, dtype=bool)
        for key, item in snap.takedowns.items():
            mask[space.known.takedown_rows(key, item.kind)] = True
        self._killed = (snap.version, id(space), mask)
        return mask

    def _rank(self, query: Query, opts: RankingOptions, space: RowSpace,
              article: dict[str, Any]) -> RelatedResult:
        snap = self._snapshot()
        trace = Trace() if opts.debug else UNTRACED
        return Ranking(space, query, opts, snap, self._killed_mask(snap, space), self._clock,
                       trace).run(article)

    # ---------------------------------------------------------- placements
    def _paragraphs(self, row: int, space: RowSpace) -> list[str]:
        """The paragraphs of a corpus or live article, from the text the model (or the live
        state) keeps."""
        if row >= space.n_corpus:
            live = space.live
            assert live is not None  # a row past the corpus is a live article's
            return split_paragraphs(live.records[row - space.n_corpus].get("body"))
        bodies = self.model.meta_.get("body")
        if bodies is None:
            raise UnusableValueError(
                "placements", "this model keeps no article text, so it cannot place inline "
                              "links for its articles (train it again)")
        return split_paragraphs(bodies[row])

    def _place(self, query: Query, opts: RankingOptions, space: RowSpace,
               article: dict[str, Any], paragraphs: Callable[[], list[str]],
               story: Terms) -> RelatedResult:
        """The answer with placements: each slot ranked through the same stages, inline
        slots (in paragraph order) on their passage blended with the story, then the end
        block on the story; a story placed in one slot is excluded from the next ones, and
        the article's pins are kept for the slot they go to (``:pins``, else the end)."""
        slots: tuple[Placement, ...] = opts.placements
        text = paragraphs() if any(p.slot == INLINE for p in slots) else []
        for p in slots:
            if p.slot == INLINE and p.after_paragraph is not None \
                    and p.after_paragraph > len(text):
                raise UnusableValueError(
                    "placements", f"{p}: paragraph {p.after_paragraph} is past the end of the "
                                  f"article, which has {len(text)} paragraph"
                                  f"{'' if len(text) == 1 else 's'}")
        snap = self._snapshot()
        killed = self._killed_mask(snap, space)
        pin_slot = next((p for p in slots if p.pins), None) or next(
            (p for p in slots if p.slot == END), None)
        base = with_options(opts, placements=())
        reserved: list[str] = []
        if pin_slot is not None:  # pins never show in another slot
            probe = Ranking(space, query, with_options(base, k=pin_slot.count), snap,
                            killed, self._clock)
            reserved = [space.id_of(r) for r in probe.pins()]
        order = sorted((p for p in slots if p.slot == INLINE), key=lambda p: p.after_paragraph or 0)
        order += [p for p in slots if p.slot == END]
        placed: dict[Placement, PlacedSlot] = {}
        debug: list[dict[str, Any]] = []
        taken: list[str] = []
        for p in order:
            taken_here = taken + ([] if p is pin_slot else reserved)
            slot_opts = with_options(base, k=p.count,
                                     exclude=tuple(base.exclude) + tuple(taken_here))
            passage = None
            if p.slot == INLINE:
                assert p.after_paragraph is not None  # an inline slot names its paragraph
                passage, terms = self._slot_terms(text, story, p.after_paragraph)
                slot_query_ = Query(
                    get_vector=functools.partial(self.model.row_vector, *terms),
                    self_row=query.self_row, article_id=query.article_id, corpus_article=False,
                    reference=query.reference, section=query.section,
                    language=query.language, story=query.story, terms=terms)
            else:  # the story's own query, fresh (feedback replaces a query's vector)
                slot_query_ = dataclasses.replace(query, _vector=None)
            trace = Trace() if opts.debug else UNTRACED
            result = Ranking(space, slot_query_, slot_opts, snap, killed, self._clock, trace,
                             use_pins=p is pin_slot).run(article)
            for item in result.items:
                self._mark(item, p, passage, space, opts.explain_terms)
            taken += result.ids
            placed[p] = PlacedSlot(p.slot, result.items, p.after_paragraph)
            if result.debug is not None:
                debug.append({"slot": str(p), **{k: v for k, v in result.debug.items()
                                                 if k != "options"}})
        end = next((placed[p] for p in slots if p.slot == END), None)
        return RelatedResult(
            article=article, items=end.items if end is not None else [], options=opts,
            state_version=snap.version, slots=[placed[p] for p in slots],
            debug={"options": opts.to_dict(), "state_version": snap.version,
                   "placements": debug} if opts.debug else None)

    def _slot_terms(self, paragraphs: Sequence[str], story: Terms, after: int
                    ) -> tuple[Terms, Terms]:
        """The passage before an inline slot after paragraph ``after`` and the slot's query
        (the passage blended with ``story``), recomputed from the paragraphs' text."""
        passage = passage_terms(self.model, paragraphs, after)
        return passage, slot_query(story, passage)

    def _mark(self, item: RankedItem, slot: Placement, passage: Terms | None,
              space: RowSpace, top: int) -> None:
        """The item's slot, and with ``explain`` the slot and the passage terms it shares
        (the contributions of the passage alone, before the blend with the story)."""
        item.slot = slot.slot
        if item.explanation is None:
            return
        item.explanation["slot"] = slot.slot
        if slot.slot == INLINE and passage is not None:
            row = space.row_of(item.id)
            assert row is not None  # the item was ranked from these rows
            shared = explain_vectors(self.model, self.model.row_vector(*passage),
                                     space.vector(row), top=top)
            item.explanation["after_paragraph"] = slot.after_paragraph
            item.explanation["passage_terms"] = shared["terms"]
            item.explanation["passage_similarity"] = shared["similarity"]

    # ----------------------------------------------------------- editorial
    def _require_editorial(self) -> Editorial:
        if self.editorial is None:
            raise InvalidParameterError("state_db", "no state database is configured")
        return self.editorial

    def _checked_editorial(self, live: LiveSnapshot | None) -> CheckedEditorial:
        """The editorial state, its changes checked against the ids and URLs of the model
        and ``live`` (the checks the CLI makes without loading the model)."""
        return CheckedEditorial(self._require_editorial(), self.row_space(live).known,
                                self._clock)

    def takedown(self, key: str, reason: str, by: str | None = None, force: bool = False,
                 live: LiveSnapshot | None = None) -> Takedown:
        """Take down an article id or URL (unknown ones only with ``force``)."""
        return self._checked_editorial(live).takedown(key, reason, by=by, force=force)

    def is_taken_down(self, article_id: str, live: LiveSnapshot | None = None) -> bool:
        """Whether a takedown (of its id or of its URL) hides ``article_id`` itself."""
        space = self.row_space(live)
        row = space.row_of(article_id)
        return row is not None and bool(self._killed_mask(self._snapshot(), space)[row])

    def takedown_matches(self, key: str, live: LiveSnapshot | None = None) -> int:
        """How many articles (corpus and live rows) a takedown of ``key`` hides now."""
        return self.row_space(live).known.takedown_matches(key)

    def undo_takedown(self, key: str, by: str | None = None) -> bool:
        return self._require_editorial().undo_takedown(key, by=by)

    def takedowns(self) -> list[Takedown]:
        return self._require_editorial().takedowns()

    def pin(self, article_id: str, ids: Sequence[str], expires_at: dt.datetime | str | None = None,
            by: str | None = None, live: LiveSnapshot | None = None) -> PinList:
        """Pin ``ids`` (known articles, not the article itself) first in its list."""
        return self._checked_editorial(live).pin(article_id, ids, expires_at=expires_at, by=by)

    def unpin(self, article_id: str, by: str | None = None) -> bool:
        return self._require_editorial().unpin(article_id, by=by)

    def pins(self, article_id: str | None = None) -> list[PinList]:
        return self._require_editorial().pins(article_id)

    def block(self, article_id: str, ids: Sequence[str], by: str | None = None,
              replace: bool = False, live: LiveSnapshot | None = None) -> list[str]:
        return self._checked_editorial(live).block(article_id, ids, by=by, replace=replace)

    def unblock(self, article_id: str, ids: Iterable[str] = (), by: str | None = None) -> int:
        return self._require_editorial().unblock(article_id, ids, by=by)

    def blocks(self, article_id: str | None = None) -> dict[str, list[str]]:
        return self._require_editorial().blocks(article_id)
