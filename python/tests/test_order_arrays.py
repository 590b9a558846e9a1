"""PCG.uint64n_many (the array form the epoch shuffle uses) against the
one-at-a-time PCG.uint64n that test_order checks against Go: the same
values and the same state after, including bounds just above 2**63, where
Lemire's method rejects about half of the draws and the arrays restart
after each."""

import random

import numpy as np
import pytest

from shardsmith import _order
from shardsmith._order import PCG


@pytest.mark.parametrize("case", range(40))
def test_uint64n_many_is_uint64n_in_a_row(case):
    rnd = random.Random(case)
    s1, s2 = rnd.getrandbits(64), rnd.getrandbits(64)
    kinds = [lambda: rnd.randint(1, 10**6), lambda: 1 << rnd.randint(0, 62),
             lambda: rnd.randint(1 << 62, (1 << 63) - 1), lambda: (1 << 63) + rnd.randint(1, 3) - 2]
    bounds = [rnd.choice(kinds)() for _ in range(rnd.randint(1, 700))]
    one, many = PCG(s1, s2), PCG(s1, s2)
    want = [one.uint64n(n) for n in bounds]
    assert many.uint64n_many(np.array(bounds, dtype=np.uint64)).tolist() == want
    assert many.state == one.state


def test_rejections_are_redone():
    # n = 2**63 + 1 is not a power of two and rejects a draw with odds about 1/2:
    # some must occur in 200 draws, each costing one more state
    one = PCG(3, 4)
    want = [one.uint64n((1 << 63) + 1) for _ in range(200)]
    many = PCG(3, 4)
    assert many.uint64n_many(np.full(200, (1 << 63) + 1, dtype=np.uint64)).tolist() == want
    steps, r = 0, PCG(3, 4)
    while r.state != one.state:
        r.uint64()
        steps += 1
    assert steps > 200 and many.state == one.state


def test_shuffle_is_the_scalar_fisher_yates():
    for n in (0, 1, 2, 3, 1000, 70000):
        a, r = list(range(n)), PCG(n, 9)
        for i in range(n - 1, 0, -1):
            j = r.uint64n(i + 1)
            a[i], a[j] = a[j], a[i]
        assert PCG(n, 9).perm(n) == a


def _swaps(n, js):
    a = list(range(n))
    for i, j in zip(range(n - 1, 0, -1), js):
        a[i], a[j] = a[j], a[i]
    return a


@pytest.mark.parametrize("case", range(60))
def test_shuffled_index_is_the_swaps_one_by_one(case):
    # the js of random shuffles, and js that clash often (each near its i, or one of few values): steps that
    # write where later ones read, self swaps, positions written many times
    rnd = random.Random(case)
    n = rnd.choice([2, 3, 4, 5, 17, 200, 3000])
    kind = case % 3
    js = [rnd.randint(0, i) if kind == 0 else rnd.randint(max(0, i - 3), i) if kind == 1 else rnd.choice([0, 1, i // 2, i])
          for i in range(n - 1, 0, -1)]
    assert _order._shuffled_index(np.array(js, dtype=np.int64)).tolist() == _swaps(n, js)


def test_shuffle_array_is_shuffle():
    for n in (0, 1, 2, 3, 1000, 70000):
        a, b = list(range(n)), np.arange(n, dtype=np.int64) * 3
        PCG(n, 5).shuffle(a)
        r = PCG(n, 5)
        r.shuffle_array(b)
        assert (b // 3).tolist() == a
        one = PCG(n, 5)
        one.shuffle(list(range(n)))
        assert r.state == one.state


@pytest.mark.parametrize("case", range(10))
def test_the_products_of_small_bounds_are_the_full_ones(case):
    rnd = np.random.default_rng(case)
    a = rnd.integers(0, 1 << 64, size=5000, dtype=np.uint64, endpoint=False)
    a[:4] = [0, 1, (1 << 64) - 1, 1 << 63]
    b = rnd.integers(1, 1 << 32, size=5000, dtype=np.uint64)
    b[:4] = [(1 << 32) - 1, 1, (1 << 32) - 1, 2]
    for got, want in zip(_order._mul64_small(a, b), _order._mul64(a, b)):
        assert (got == want).all()
    assert [(int(h) << 64) | int(lo) for h, lo in zip(*_order._mul64_small(a[:50], b[:50]))] == \
        [int(x) * int(y) for x, y in zip(a[:50], b[:50])]
