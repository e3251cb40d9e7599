"""The network family: the book's Dense network and its variants (:mod:`.family`)."""
