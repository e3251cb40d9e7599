"""Text: review texts as Arrow columns (:mod:`.columns`), normalisation and tokenisation
(:mod:`.tokenizer`), and the frequency-ranked Vocabulary (:mod:`.vocabulary`).

Bundles record ``critic.text`` as their tokenizer's module: every name below stays here.
"""

from critic.text.columns import Ragged, TextColumn, arrow_strings, ensure_texts
from critic.text.tokenizer import (
    TOKENIZER_VERSION,
    TOKENIZER_VERSIONS,
    Tokens,
    check_tokenizer_version,
    split_sentences,
    tokenize,
    tokenize_texts,
)
from critic.text.vocabulary import Vocabulary

__all__ = ["TOKENIZER_VERSION", "TOKENIZER_VERSIONS", "Ragged", "TextColumn", "Tokens",
           "Vocabulary", "arrow_strings", "check_tokenizer_version", "ensure_texts",
           "split_sentences", "tokenize", "tokenize_texts"]
