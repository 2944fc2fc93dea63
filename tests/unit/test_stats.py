"""generator.stats.percentile: the one percentile behind reports, request-log analysis and benchmarks."""

from __future__ import annotations

import pytest

from generator.stats import percentile

pytestmark = [pytest.mark.unit]


def test_percentile_matches_numpy_linear_method() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 90) == pytest.approx(7.6)  # numpy.percentile([1,2,3,4,10], 90)
    assert percentile(values, 99) == pytest.approx(9.76)
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([10.0, 20.0], 90) == 19.0
    assert percentile([5.0], 99) == 5.0


def test_a_percentile_of_nothing_is_refused_not_zero() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
