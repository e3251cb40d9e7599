"""The nblr family: NB-weighted logistic regression over word n-grams (:mod:`.family`)."""
