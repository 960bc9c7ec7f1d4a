"""Simulator invariants: batched == single, streamed == per-trial oracle, monotonicity at fixed seed,
coefficient-form SGD == dense SGD, and a statistical sim-vs-theory exponent test with a negative control."""
import numpy as np
import pytest
import torch

from simulators.associative_memory import learned, theory
from simulators.associative_memory.hopfield import dense_bit_error, patterns, retrieval_overlap
from simulators.associative_memory.model import (block_seeds, draw_embeddings, input_embeddings, measure_error,
                                                 measure_error_per_trial, memory_weights, sample_counts,
                                                 trial_chunks, zipf_probs)
from simulators.harness.fit import fit_power_law


def _q(p, schemes, d, counts=None):
    return torch.stack([memory_weights(s, p, counts, d=d) for s in schemes])


def test_streamed_scorer_matches_per_trial_oracle_and_batch_independence():
    N, M, d, seeds = 700, 5, 48, [0, 3, 7]
    p = zipf_probs(N, 2.0)
    q = torch.stack([_q(p, ["pop^1", "pop_threshold", "pop^0.5"], d)] * 3)          # [R, C, N]
    fast = measure_error(q, p[None], seeds, d, M, dtype=torch.float64)
    ref = measure_error_per_trial(q, p[None], seeds, d, M)
    assert torch.allclose(fast, ref, atol=1e-6)
    alone = measure_error(q[1:2], p[None], [3], d, M, dtype=torch.float64)          # trial 3 alone
    assert torch.equal(alone[0], fast[1])



@pytest.mark.parametrize("chunk_bytes", [1, 4 * 700 * 48 * 2, None])
def test_trial_chunks_give_identical_errors(chunk_bytes):
    """One trial per chunk, two trials per chunk with a ragged last chunk, one chunk: the same errors, bit for bit."""
    N, M, d, seeds = 700, 5, 48, [0, 3, 7]
    p = zipf_probs(N, 2.0)
    q = torch.stack([_q(p, ["pop^1", "pop_threshold", "pop^0.5"], d)] * 3)          # [R, C, N]
    ref = measure_error(q, p[None], seeds, d, M)                                     # default: one chunk here
    assert torch.equal(measure_error(q, p[None], seeds, d, M, chunk_bytes=chunk_bytes), ref)
    assert torch.equal(measure_error(q, p[None], seeds, d, M, chunk_bytes=chunk_bytes, hold_bytes=0), ref)
    assert torch.allclose(ref, measure_error_per_trial(q, p[None], seeds, d, M), atol=1e-6)


def test_trial_chunks_plan_and_bad_input():
    assert trial_chunks(5, 10, 4, 2 * 4 * 10 * 4) == [(0, 2), (2, 4), (4, 5)]
    assert trial_chunks(5, 10, 4, 1) == [(i, i + 1) for i in range(5)]
    assert trial_chunks(5, 10, 4, None) == [(0, 5)]
    with pytest.raises(ValueError, match="chunk_bytes"):
        trial_chunks(5, 10, 4, 0)
    with pytest.raises(ValueError, match="R must be"):
        trial_chunks(0, 10, 4, None)
    p = zipf_probs(20, 2.0)
    with pytest.raises(ValueError, match="chunk_bytes"):
        measure_error(p[None, None], p[None], [0], 4, 5, chunk_bytes="big")
    with pytest.raises(ValueError, match="hold_bytes"):
        measure_error(p[None, None], p[None], [0], 4, 5, hold_bytes=-1)


def test_block_seeds_equal_derive_seed():
    """The vectorised SeedSequence hash gives derive_seed's integers, including the fallback for big seeds."""
    from simulators._batch import ROLE_EMBED, derive_seed
    for seeds, d, nb in (([0, 1, 7, 12345, 2**32 - 1], 128, 40), ([3, 2**40 + 5], 4096, 3), ([9], 4, 1)):
        want = [derive_seed(s, ROLE_EMBED, d, 0, b) for s in seeds for b in range(nb)]
        assert block_seeds(seeds, d, nb) == want


def test_draw_embeddings_matches_input_embeddings():
    """Drawing into a reused buffer gives the seeded stream's numbers (ragged last block: N = 300)."""
    out = torch.full((2, 300, 8), float("nan"))
    draw_embeddings([4, 1], 8, 300, out)
    assert torch.equal(out, torch.stack([input_embeddings(4, 8, 300), input_embeddings(1, 8, 300)]))


@pytest.mark.parametrize("scheme, expect", [("pop_threshold", "down"), ("pop^1", "down")])
def test_error_is_monotone_in_d_at_fixed_seed(scheme, expect):
    """Across a 64× range of d the error of q = p and of thresholding falls (theory: d^-(a-1)/(2a), d^-(a-1))."""
    N, M = 1000, 5
    p = zipf_probs(N, 2.0)
    errs = [float(measure_error(_q(p, [scheme], d)[None], p[None], [1], d, M)[0, 0]) for d in (16, 128, 1024)]
    assert errs[0] > errs[1] > errs[2]


def test_infinite_capacity_error_is_monotone_in_T_at_fixed_seed():
    from simulators.associative_memory.model import error_infinite_capacity
    p = zipf_probs(5000, 1.5)
    e = [float(error_infinite_capacity(sample_counts(0, p, T, T), p)) for T in (100, 1000, 10000)]
    assert e[0] > e[1] > e[2]


def test_seen_scheme_is_overloaded_until_d_exceeds_seen_tokens():
    """'seen' stores every seen token (here ~900): at d = 64 the memory is overloaded and barely beats chance."""
    N, M = 2000, 5
    p = zipf_probs(N, 1.5)
    counts = sample_counts(0, p, 20000, 1)
    q = memory_weights("seen", p, counts)[None, None]
    e_small, e_big = (float(measure_error(q, p[None], [0], d, M)[0, 0]) for d in (64, 4096))
    assert e_small > 0.5 and e_big < 0.5 * e_small


def test_sgd_coefficient_form_equals_dense_sgd():
    N, M, d = 300, 5, 24
    p = zipf_probs(N, 2.0)
    seeds = [0, 1]
    Emb = torch.stack([learned.input_embeddings(s, d, N) for s in seeds]).double()
    U = torch.stack([learned.output_embeddings(s, d, M) for s in seeds]).double()
    tok = torch.stack([learned.sample_tokens(s, p, 1024, 0) for s in seeds])
    f = learned.labels(N, M)
    W = torch.zeros(2, d, d, dtype=torch.float64)
    for st in range(16):
        x = tok[:, st * 64:(st + 1) * 64]
        W -= 3.0 * learned._grad(W, Emb[torch.arange(2)[:, None], x], U, f[x], False, None)
    coef = learned._sgd_coefficients(Emb, U, tok, f, torch.tensor([3.0, 3.0], dtype=torch.float64), 64, None)
    assert torch.allclose(W @ U.transpose(1, 2), coef, atol=1e-10)


def test_learned_batched_matches_single():
    p = zipf_probs(300, 2.0)
    both = learned.train_memory([0, 5], 16, p, 5, 2048, 64, "adam", [1.0, 1.0], betas=(0.0, 0.0), dtype=torch.float64)
    one = learned.train_memory([5], 16, p, 5, 2048, 64, "adam", [1.0], betas=(0.0, 0.0), dtype=torch.float64)
    assert torch.equal(both[1:], one)


def test_hopfield_retrieves_below_and_fails_above_capacity():
    lo = retrieval_overlap(patterns([0, 1, 2], 400, 20, 11), 30)[0]        # load 0.05
    hi = retrieval_overlap(patterns([0, 1, 2], 400, 120, 11), 30)[0]       # load 0.30
    assert lo.min() > 0.97 and hi.mean() < 0.7


def test_dense_bit_error_increases_with_P():
    e = [float(dense_bit_error(patterns([0, 1], 32, P, 12, 3), 3, 4).mean()) for P in (20, 400)]
    assert e[0] < e[1]


@pytest.mark.slow
def test_threshold_dim_exponent_matches_theory_and_rejects_a_wrong_value():
    """Threshold scheme at a = 2: fitted exponent within its bootstrap CI (widened by 0.03 for the finite-N
    curvature) of a − 1 = 1; negative control: a − 1 ± 0.3 must be rejected by the same rule."""
    N, M, ds, seeds = 3000, 5, [16, 32, 64, 128, 256], list(range(8))
    p = zipf_probs(N, 2.0)
    y = np.zeros((len(seeds), len(ds)))
    for j, d in enumerate(ds):
        q = _q(p, ["pop_threshold"], d)[None].expand(len(seeds), -1, -1)
        y[:, j] = measure_error(q, p[None], seeds, d, M)[:, 0].numpy()
    fit = fit_power_law(ds, y, window="all")
    half = (fit.ci95[1] - fit.ci95[0]) / 2 + 0.03

    def accepts(value):
        return abs(fit.exponent - value) <= half

    assert accepts(theory.predicted_exponent_dim(2.0, "threshold"))
    assert not accepts(theory.predicted_exponent_dim(2.0, "threshold") + 0.3)
    assert not accepts(theory.predicted_exponent_dim(2.0, "power"))


def test_chunked_scorer_is_bit_identical_to_the_block_streamed_scorer_of_the_stored_results():
    """The stored memory.* results came from the former scorer (all trials at once, E stacked per token block,
    W Uᵀ accumulated block by block, scores per block). Its float32 arithmetic, restated here, must match
    bit for bit, with chunks of one trial and with one chunk."""
    import math

    from simulators.associative_memory.model import BLOCK, embedding_block, labels, output_embeddings

    N, M, d, seeds = 600, 5, 24, [2, 5]
    p = zipf_probs(N, 2.0)
    q = torch.stack([_q(p, ["pop^1", "pop^0.5"], d)] * 2)                          # [R, C, N]
    R, C, _ = q.shape
    f = labels(N, M)
    U = torch.stack([output_embeddings(s, d, M) for s in seeds])
    G = torch.bmm(U, U.transpose(1, 2))
    qG = (q.float()[..., None] * G[:, None, f, :]).permute(0, 2, 1, 3).reshape(R, N, C * M)
    blocks = [torch.stack([embedding_block(s, d, b, N) for s in seeds]) for b in range(math.ceil(N / BLOCK))]
    WUt = torch.zeros(R, d, C * M)
    for b, Eb in enumerate(blocks):
        WUt += torch.bmm(Eb.transpose(1, 2), qG[:, b * BLOCK:(b + 1) * BLOCK].contiguous())
    ref = torch.zeros(R, C, dtype=torch.float64)
    for b, Eb in enumerate(blocks):
        sl = slice(b * BLOCK, min(N, (b + 1) * BLOCK))
        wrong = (torch.bmm(Eb, WUt).view(R, -1, C, M).argmax(-1) != f[sl, None]).to(torch.float64)
        ref += (wrong.transpose(1, 2) * p.expand(R, C, N)[..., sl]).sum(-1)
    for chunk_bytes, hold_bytes in ((1, 1 << 30), (None, 1 << 30), (1, 0), (None, 0)):   # hold_bytes=0: streamed
        assert torch.equal(measure_error(q, p[None], seeds, d, M, chunk_bytes=chunk_bytes, hold_bytes=hold_bytes), ref)
