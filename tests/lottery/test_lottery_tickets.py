"""The ticket detector finds planted mirror pairs, and its control finds planted duplicates."""
import torch
from hypothesis import given
from hypothesis import strategies as st

from simulators.lottery.tickets import measure_movement, measure_pairs


def _random_net(N, seed):
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(1, N, generator=g, dtype=torch.float64) * 2 - 1
    b = torch.rand(1, N, generator=g, dtype=torch.float64) * 2 - 1
    v = (torch.rand(1, N, generator=g, dtype=torch.float64) * 2 - 1) / N ** 0.5
    return w, b, v


@given(seed=st.integers(0, 10_000), N=st.integers(8, 40), i=st.integers(0, 3), j=st.integers(0, 3))
def test_lottery_detector_finds_planted_mirror_pair(seed, N, i, j):
    w, b, v = _random_net(N, seed)
    a, c = i, N - 1 - j                                   # two distinct neurons
    w[0, c], b[0, c], v[0, c] = -w[0, a], b[0, a], v[0, a]
    m = measure_pairs(w, b, v, 0.05)
    assert m["mirror"][0] >= 1
    # the control: plant a duplicate instead
    w2, b2, v2 = _random_net(N, seed)
    w2[0, c], b2[0, c], v2[0, c] = w2[0, a], b2[0, a], v2[0, a]
    d = measure_pairs(w2, b2, v2, 0.05)
    assert d["duplicate"][0] >= 1


def test_lottery_detector_counts_exactly_on_a_constructed_net():
    """Three mirror pairs, one duplicate pair, one lone neuron: counts are exactly 3 and 1."""
    w = torch.tensor([[0.5, -0.5, 1.2, -1.2, -0.8, 0.8, 0.3, 0.3, 0.9]], dtype=torch.float64)
    b = torch.tensor([[0.1, 0.1, -0.7, -0.7, 0.4, 0.4, -0.2, -0.2, 1.5]], dtype=torch.float64)
    v = torch.tensor([[0.2, 0.2, -0.3, -0.3, 0.5, 0.5, 0.25, 0.25, -0.9]], dtype=torch.float64)
    m = measure_pairs(w, b, v, 0.05)
    assert int(m["mirror"][0]) == 3 and int(m["duplicate"][0]) == 1 and int(m["n_pairs"][0]) == 36
    # perturbing one partner beyond the tolerance removes exactly that pair
    w[0, 1] = -0.6
    assert int(measure_pairs(w, b, v, 0.05)["mirror"][0]) == 2


def test_lottery_detector_sign_flip_swaps_mirror_and_duplicate():
    w, b, v = _random_net(30, 1)
    w[0, 5], b[0, 5], v[0, 5] = -w[0, 2], b[0, 2], v[0, 2]
    m = measure_pairs(w, b, v, 0.05)
    w[0, 5] = -w[0, 5]
    f = measure_pairs(w, b, v, 0.05)
    assert int(f["duplicate"][0]) == int(m["mirror"][0]) and int(f["mirror"][0]) == int(m["duplicate"][0])


def test_lottery_movement_zero_without_training_and_scales():
    w, b, v = _random_net(16, 3)
    init = {"w": w, "b": b, "v": v}
    assert float(measure_movement(init, init)["move_hidden"][0]) == 0.0
    moved = {"w": 1.1 * w, "b": 1.1 * b, "v": v}
    torch.testing.assert_close(measure_movement(init, moved)["move_hidden"], torch.tensor([0.1], dtype=torch.float64))
