"""What every model family shares to train: the held-out rules (:mod:`.splits`), the options
and knobs (:mod:`.options`), reviews in memory (:mod:`.data`), spilling a stream
(:mod:`.spill`) and the one result (:mod:`.result`)."""
