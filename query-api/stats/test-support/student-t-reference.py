"""
Reference values of the Student t CDF and quantile for query-api/stats/distributions.test.ts,
computed with mpmath at 50 significant digits straight from the definition
(A&S 26.7.1: P(T <= -|t|) = 1/2 I_{v/(v+t^2)}(v/2, 1/2); the quantile by bisection on it).
Regenerate with: python3 query-api/stats/test-support/student-t-reference.py
(needs mpmath; the values were cross-checked against scipy.stats.t to 4e-14 relative).
"""
import json
import pathlib

import mpmath as mp

mp.mp.dps = 50
HALF = mp.mpf(1) / 2
DEGREES_OF_FREEDOM = [1, 1.5, 2, 3, 4.7, 10, 30, 100, 1000, 5841.7, 1e4, 99999.5, 1e5, 1e6, 1000000.1,
                      1199966.16, 3e6, 1e7, 1e8, 1e9]
T_VALUES = [0.05, 0.5, 1, 1.96, 2.113, 2.5, 3, 4, 5, 6, 8, 10, 20]
PROBABILITIES = [0.6, 0.8, 0.9, 0.95, 0.975, 0.99, 0.995, 0.999, 0.9995, 0.99999]


def lower_tail(t, v):
    """P(T <= -|t|) on v degrees of freedom."""
    t, v = mp.mpf(t), mp.mpf(v)
    return mp.betainc(v / 2, HALF, 0, v / (v + t * t), regularized=True) / 2


def quantile(probability, v):
    """The x > 0 with P(T > x) = 1 - probability, by 160 bisection steps."""
    tail = 1 - mp.mpf(probability)
    low, high = mp.mpf(0), mp.mpf(1)
    while lower_tail(high, v) > tail:
        high *= 2
    for _ in range(160):
        middle = (low + high) / 2
        if lower_tail(middle, v) > tail:
            low = middle
        else:
            high = middle
    return (low + high) / 2


cdf = [[-t, v, float(lower_tail(t, v))] for v in DEGREES_OF_FREEDOM for t in T_VALUES]
quantiles = [[p, v, float(quantile(p, v))] for v in DEGREES_OF_FREEDOM for p in PROBABILITIES]
target = pathlib.Path(__file__).with_name('student-t-reference.json')
target.write_text(json.dumps({'cdf': cdf, 'quantile': quantiles}) + '\n')
print(f'{len(cdf)} CDF and {len(quantiles)} quantile values written to {target}')
