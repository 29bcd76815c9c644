"""SciPy's functions that a traced value cannot pass through (they convert their input with
``np.asarray``), written for graphc, with SciPy's signatures: ``graphc.scipy.special``,
``graphc.scipy.stats``, ``graphc.scipy.linalg``, ``graphc.scipy.signal`` and ``graphc.scipy.integrate``.

scipy.special's ufuncs (``gammaln``, ``erf``...) need nothing of this: they trace directly.
"""
from graphc.scipy import integrate, linalg, signal, special, stats

__all__ = ["integrate", "linalg", "signal", "special", "stats"]
