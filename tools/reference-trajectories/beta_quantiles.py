"""Beta(α, β) quantiles from SciPy's scipy.stats.beta.ppf, the function the reference's use_beta_sigmas calls.

Writes tests/Sdk.Tests/TestData/reference/beta-quantiles.json, which BetaDistributionTests replays. Run with Debian's
python3 (scipy 1.10): /usr/bin/python3 tools/reference-trajectories/beta_quantiles.py
"""
import json
import os
import warnings

import scipy
from scipy.stats import beta

SHAPES = [(0.6, 0.6), (0.3, 0.3), (0.5, 2.0), (2.0, 5.0), (10.0, 0.7), (40.0, 40.0), (1.0, 1.0), (0.9, 3.5)]
PROBABILITIES = [1e-12, 1e-9, 1e-6, 1e-3, 0.01, 0.05, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.95, 0.99,
                 1 - 1e-3, 1 - 1e-6, 1 - 1e-9]


def quantile(p, a, b):
    """SciPy's value, or None where its root finder says it gave up (far tails of lopsided shapes)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        q = float(beta.ppf(p, a, b))
    return None if caught else q


cases = [{"alpha": a, "beta": b, "p": p, "quantile": q} for a, b in SHAPES for p in PROBABILITIES
         if (q := quantile(p, a, b)) is not None]
out = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "Sdk.Tests", "TestData", "reference", "beta-quantiles.json")
with open(out, "w") as f:
    json.dump({"source": f"scipy.stats.beta.ppf, scipy {scipy.__version__}", "cases": cases}, f, indent=1)
print(f"wrote {len(cases)} cases to {os.path.normpath(out)}")
