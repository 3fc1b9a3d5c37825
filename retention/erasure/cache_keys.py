"""Cache keys holding members' data: registered by the apps that cache it, deleted after each chunk.

No app caches member data today; an app that starts to registers a builder here (from its
``AppConfig.ready``), and the engine deletes the keys of the chunk's erased members once the
chunk has committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.core.cache import cache as django_cache

_CACHE_KEY_BUILDERS: list[Callable[[dict[int, str]], Iterable[str]]] = []


def register_cache_keys(builder: Callable[[dict[int, str]], Iterable[str]]) -> Callable:
    """Register ``builder(members)`` -> cache keys holding data of ``members`` ({pk: member number}).

    The engine deletes those keys after each chunk commits. No app caches member data today; an
    app that starts to must register its keys here (from its ``AppConfig.ready``).
    """
    if builder not in _CACHE_KEY_BUILDERS:
        _CACHE_KEY_BUILDERS.append(builder)
    return builder


def unregister_cache_keys(builder: Callable) -> None:
    if builder in _CACHE_KEY_BUILDERS:
        _CACHE_KEY_BUILDERS.remove(builder)


def delete_cached(members: dict[int, str]) -> None:
    """Delete the registered cache keys of ``members`` ({pk: member number}); after a chunk commits."""
    if members and _CACHE_KEY_BUILDERS:
        keys = [key for builder in _CACHE_KEY_BUILDERS for key in builder(members)]
        if keys:
            django_cache.delete_many(keys)
