"""What a model offers a request: its family's sizes and qualities, narrowed by its configuration.

A configuration's ``sizes``/``qualities`` lists narrow the family's (never widen them); a quality may be
listed in the family's words or the public aliases it maps (``hd`` is ``high`` on gpt-image).
"""

from __future__ import annotations

from donatello.models import ModelProvider, ProviderConfig
from donatello.providers.families import Family, Sizes, family_of


def family(model: ModelProvider, config: ProviderConfig | None) -> Family | None:
    return family_of(model.provider_name, config.configuration if config is not None else {})


def sizes(model: ModelProvider, config: ProviderConfig | None) -> tuple[str, ...]:
    """The family's sizes, narrowed to those the configuration lists; a family with free sizes takes any
    within its bounds too, unless the configuration lists the sizes it may be asked."""
    offered_by = family(model, config)
    if offered_by is None:
        return ()
    listed = _listed(config, "sizes")
    kept = tuple(size for size in offered_by.sizes if not listed or size in listed)
    return Sizes(kept, None if listed else offered_by.free_sizes)


def qualities(model: ModelProvider, config: ProviderConfig | None) -> tuple[str, ...]:
    """The public words the model accepts: its family's own qualities (narrowed to those the
    configuration lists, in either the family's words or their aliases), then the aliases of those."""
    offered_by = family(model, config)
    if offered_by is None:
        return ()
    listed = {offered_by.quality(word) for word in _listed(config, "qualities")}
    own = tuple(quality for quality in offered_by.qualities if not listed or quality in listed)
    aliases = tuple(alias for alias, word in offered_by.quality_aliases.items() if word in own)
    return own + tuple(alias for alias in aliases if alias not in own)


def _listed(config: ProviderConfig | None, key: str) -> tuple[str, ...]:
    values = config.configuration.get(key) if config is not None else None
    return tuple(str(v) for v in values) if isinstance(values, list) else ()
