"""SciPy's functions that a traced value cannot pass through (they convert their input with
``np.asarray``), written for graphc, with SciPy's signatures: ``graphc.scipy.special``,
``graphc.scipy.stats``, ``graphc.scipy.linalg`` and ``graphc.scipy.signal``.

scipy.special's ufuncs (``gammaln``, ``erf``...) need nothing of this: they trace directly.
"""
from graphc.scipy import linalg, signal, special, stats

__all__ = ["linalg", "signal", "special", "stats"]
