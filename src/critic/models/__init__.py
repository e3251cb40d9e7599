"""Model families (one folder each: :mod:`critic.models.network`, :mod:`critic.models.nblr`),
what they share (:mod:`.base`, :mod:`.family`, :mod:`.binary`) and their registry
(:mod:`.registry`)."""
