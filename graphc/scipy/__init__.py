"""SciPy's functions that a traced value cannot pass through (they convert their input with
``np.asarray``), written for graphc, with SciPy's signatures: ``graphc.scipy.special``,
``graphc.scipy.stats`` and ``graphc.scipy.linalg``.

scipy.special's ufuncs (``gammaln``, ``erf``...) need nothing of this: they trace directly.
"""
from graphc.scipy import linalg, special, stats

__all__ = ["linalg", "special", "stats"]
