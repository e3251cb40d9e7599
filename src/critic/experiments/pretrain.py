"""``critic pretrain``: word vectors learned from unlabelled reviews.

By default from IMDB's 50,000 unlabelled reviews and its 25,000 training reviews (never its test
reviews, which must stay unseen by anything that chooses or learns), or from a file, folder or
glob of the user's reviews. gensim's Word2Vec learns from critic's own tokens (the tokenizer
every model uses), one sentence at a time. The reviews are streamed: each of gensim's passes
(one for the vocabulary, one per epoch) re-reads and re-tokenises them batch by batch, so
memory holds one batch and the vocabulary whatever the number of reviews.

The result is a run folder: the vectors (:mod:`critic.word_vectors`: safetensors + JSON, never
pickle) and ``run.json`` with where they were learned from (the archive's checksum), the
settings, the library's version, and what was learned: sentences, tokens, words kept, time,
and each probe word's nearest neighbours (a look at what the vectors know).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from critic.errors import DataError
from critic.experiments.config import PretrainConfig
from critic.runs import RunFolder, RunRecord
from critic.text import split_sentences
from critic.text.tokenizer import tokenize_texts
from critic.word_vectors import WordVectors

#: Reviews tokenised at a time while streaming.
BATCH_REVIEWS = 10_000
#: Words whose neighbours the run records, when they were kept.
PROBES = ("excellent", "awful", "boring", "funny")


@dataclass(frozen=True)
class Pretrained:
    """The folder written, the vectors, and ``run.json``'s metrics."""

    folder: Path
    vectors: WordVectors
    metrics: dict[str, Any]


class Sentences:
    """The tokenised sentences of the reviews ``batches()`` yields, as gensim reads them: a
    list of tokens each, and again from the start every time it is iterated."""

    def __init__(self, batches: Callable[[], Iterable[Sequence[str]]]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[list[str]]:
        for texts in self.batches():
            sentences, _ = split_sentences(texts, min_words=2)
            if not sentences:
                continue
            tokens = tokenize_texts(sentences)
            words, ids = tokens.words.to_pylist(), tokens.ids.values.tolist()
            for lo, hi in itertools.pairwise(tokens.ids.offsets.tolist()):
                yield [words[i] for i in ids[lo:hi]]


def imdb_batches(data: str | os.PathLike[str] | None, seed: int
                 ) -> tuple[Callable[[], Iterator[list[str]]], dict[str, Any]]:
    """IMDB's unlabelled and training reviews, shuffled by ``seed`` (gensim's step size falls
    as it reads: sorted reviews would teach the last label's words least), and where they are
    from."""
    import pyarrow as pa

    from critic.datasets.corpus import load_corpus

    corpus = load_corpus(data)
    texts = pa.concat_arrays([corpus.subset(split).texts.arrow for split in ("unsup", "train")])
    order = np.random.default_rng(seed).permutation(len(texts))

    def batches() -> Iterator[list[str]]:
        for start in range(0, len(order), BATCH_REVIEWS):
            yield texts.take(pa.array(order[start:start + BATCH_REVIEWS])).to_pylist()

    return batches, {"source": "imdb", "splits": ["unsup", "train"], "reviews": len(order),
                     "checksum": corpus.checksum, "shuffled_with_seed": seed}


def file_batches(path: str, text_column: str
                 ) -> tuple[Callable[[], Iterator[Sequence[str]]], dict[str, Any]]:
    """The reviews of a file, folder or glob, in their order, read again on every pass."""
    from critic.datasets.stream import ReviewStream

    stream = ReviewStream(path, text_column=text_column)

    def batches() -> Iterator[Sequence[str]]:
        for batch in stream:
            yield batch.texts

    return batches, {"source": path, "text_column": text_column}


def pretrain(config: PretrainConfig, output: str | os.PathLike[str], *,
             data: str | os.PathLike[str] | None = None, input_path: str | None = None,
             text_column: str = "text", overwrite: bool = False,
             progress: Callable[[str], None] = lambda message: None) -> Pretrained:
    """Learn word vectors from ``input_path``'s reviews (default: IMDB's unlabelled and
    training reviews from ``data``) and write them with their ``run.json`` to ``output``
    (claimed before any work, written atomically when done)."""
    folder = RunFolder(output, "pretrain", overwrite=overwrite)
    if input_path is not None:
        batches, source = file_batches(input_path, text_column)
    else:
        batches, source = imdb_batches(data, config.seed)
    started = time.perf_counter()
    model = _word2vec(config, Sentences(batches), progress)
    vectors = WordVectors(tuple(model.wv.index_to_key), model.wv.vectors,
                          np.array([model.wv.get_vecattr(word, "count")
                                    for word in model.wv.index_to_key], dtype=np.int64))
    metrics = {"sentences": int(model.corpus_count), "tokens": int(model.corpus_total_words),
               "words": len(vectors.words), "seconds": round(time.perf_counter() - started, 1),
               "neighbours": _neighbours(model)}
    record = RunRecord("pretrain", {"source": source, **asdict(config),
                                    "workers": _workers(), "library": _library()}, metrics)
    path = folder.write(vectors.files(), record)
    return Pretrained(path, vectors, metrics)


def _word2vec(config: PretrainConfig, sentences: Sentences,
              progress: Callable[[str], None]) -> Any:
    from gensim.models import Word2Vec

    model = Word2Vec(vector_size=config.dimension, window=config.window,
                     min_count=config.min_count, sg=int(config.skip_gram), seed=config.seed,
                     workers=_workers())
    progress("counting the words of the reviews")
    model.build_vocab(corpus_iterable=sentences)
    if not len(model.wv):
        raise DataError(f"no word occurs {config.min_count} times in the reviews: give more "
                        "reviews or a lower --min-count", parameter="min_count")
    progress(f"{model.corpus_count:,} sentences, {len(model.wv):,} words; learning their "
             f"vectors in {config.epochs} passes")
    model.train(corpus_iterable=sentences, total_examples=model.corpus_count,
                epochs=config.epochs)
    return model


def _neighbours(model: Any) -> dict[str, list[str]]:
    return {word: [near for near, _ in model.wv.most_similar(word, topn=5)]
            for word in PROBES if word in model.wv.key_to_index}


def _workers() -> int:
    # Several workers make Word2Vec's result depend on thread timing (gensim's own caveat):
    # the seed fixes the initial vectors, not the bits of the result.
    return os.cpu_count() or 1


def _library() -> str:
    return f"gensim {metadata.version('gensim')} Word2Vec"
