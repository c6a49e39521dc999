"""Where Numba's on-disk cache (``@njit(cache=True)``) and the generated kernels go: the user's cache
directory, never the source tree.

:func:`configure` must run before a module defines its cached kernels (Numba picks the cache location when
``cache=True`` is applied). It sets ``NUMBA_CACHE_DIR`` to ``<user cache>/atilax/numba`` unless the user set it,
and reloads Numba's configuration from the environment. The user cache directory is platformdirs'
``user_cache_dir("atilax")`` (``$XDG_CACHE_HOME/atilax``, default ``~/.cache/atilax``, on Linux).
"""
from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir


def atilax_cache_dir() -> Path:
    """The user's cache directory of Atilax (not created here)."""
    return Path(user_cache_dir("atilax", appauthor=False))


def configure() -> str:
    """Point Numba's cache at ``<user cache>/atilax/numba`` unless ``NUMBA_CACHE_DIR`` is set; returns the
    cache directory in effect. Idempotent."""
    import numba

    if not os.environ.get("NUMBA_CACHE_DIR"):
        os.environ["NUMBA_CACHE_DIR"] = str(atilax_cache_dir() / "numba")
    if numba.config.CACHE_DIR != os.environ["NUMBA_CACHE_DIR"]:
        numba.config.reload_config()
    return numba.config.CACHE_DIR
