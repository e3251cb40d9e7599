"""Tokenising costs time linear in the text (issue 31, finding 1): the inputs that made it
quadratic (long runs of combining marks, unclosed HTML comments) are put in a form Arrow's
normaliser and RE2 handle in one pass, without changing a single token; and a huge decimal
character reference is an input, not a crash.

Times are measured in ``benchmarks/bench_tokenize_cost.py``, not here: these tests pin the
mechanism (what Arrow is handed) and that the tokens are those of the plain patterns."""

from __future__ import annotations

import unicodedata

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from critic.text import tokenize
from critic.text import tokenizer as text


def _plain(texts: list[str]) -> list[list[str]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(text, "_without_dead_comments", lambda lowered: lowered)
        patch.setattr(text, "_marks_in_order", lambda texts: texts)
        return tokenize(texts)


_ADVERSARIAL = {
    "combining marks": "a" + "\u0301" * 4000 + "\u0316" * 4000,
    "tibetan vowels": "a" + "\u0f73" * 3000 + "\u0301" * 3000,
    "half-width marks": "a" + "\u0301" * 3000 + "\uff9e" * 3000,
    "unclosed comments": "<!--" * 3000,
    "comments and breaks": "<!--<br>" * 2000,
    "comments over lines": "<!-- x\n-->" + "<!--\n" * 2000,
}


@pytest.mark.parametrize("name", list(_ADVERSARIAL))
def test_adversarial_texts_keep_their_tokens(name: str) -> None:
    review = _ADVERSARIAL[name]
    assert tokenize([review, "a fine film"]) == _plain([review, "a fine film"])


def test_no_unclosed_comment_reaches_the_tag_pattern() -> None:
    """Each ``<!--`` that no ``-->`` closes on its line is what made RE2 scan to the line's
    end once per opening; none may reach it."""
    lowered = pa.array(["<!--" * 1000, "<!-- kept -->", "<!-->", "x <!-- a\n--> <!-- b -->",
                        "<a <!-- >", "<!--<!-- -->"], pa.large_string())
    rewritten = text._without_dead_comments(lowered).to_pylist()
    assert rewritten[0] == "<?--" * 1000
    assert rewritten[1:] == ["<!-- kept -->", "<?-->", "x <?-- a\n--> <!-- b -->",
                             "<a <?-- >", "<!--<!-- -->"]


def test_marks_reach_the_normaliser_in_canonical_order() -> None:
    """Arrow's normaliser orders marks by insertion (quadratic in a run): it must be handed
    them ordered, so it has nothing to move, and the result must be the same NFKC."""
    reviews = [_ADVERSARIAL["combining marks"], _ADVERSARIAL["tibetan vowels"], "café",
               "日本語の映画" * 30]
    ordered = text._marks_in_order(pa.array(reviews, pa.large_string())).to_pylist()
    assert ordered[0] == unicodedata.normalize("NFKD", reviews[0])
    assert ordered[1] == unicodedata.normalize("NFKD", reviews[1])
    assert ordered[2] == "café"  # no long stretch beyond ASCII: not touched
    assert [unicodedata.normalize("NFKC", o) for o in ordered] == \
        [unicodedata.normalize("NFKC", r) for r in reviews]


def test_a_huge_decimal_reference_is_text_not_a_crash() -> None:
    review = "&#" + "1" * 5000 + "; and &#00000065; &#12345678;x caf&eacute;"
    assert tokenize([review]) == [["and", "a", "x", "café"]]


_PIECES = ["<!--", "-->", "<!-->", "\n", " ", "a", "b", "<br>", "<a ", '"', "'", ">", "<",
           "\u0301", "\u0316", "\u0f73", "\uff9e", "\u3099", "e\u0301", "é", "日", "ﬁ", "!",
           "-", "&#39;", "<p title=\"<!--\">"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_PIECES), max_size=80).map("".join), min_size=1,
                max_size=6))
def test_the_rewrites_change_no_token(texts: list[str]) -> None:
    assert tokenize(texts) == _plain(texts)


def test_real_reviews_keep_their_tokens(real_data: object) -> None:
    """8,000 IMDB reviews (training and test, each side), tokenised with and without the
    rewrites: identical, so bundles need no new tokenizer version."""
    from critic.datasets.corpus import load_corpus

    corpus = load_corpus(real_data)  # type: ignore[arg-type]
    reviews = [*corpus.subset("train").texts[:4000], *corpus.subset("test").texts[-4000:]]
    reviews += [r + " <!-- " + r[:200] for r in reviews[:200]]  # an opening left unclosed
    assert tokenize(reviews) == _plain(reviews)
