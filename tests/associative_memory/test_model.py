"""Simulator invariants: batched == single, streamed == per-trial oracle, chunking/resuming never changes a
number (counter-based Philox draws), monotonicity at fixed seed, coefficient-form SGD == dense SGD, moments of
the drawn embeddings/samples/signs, and a statistical sim-vs-theory exponent test with a negative control."""
import math

import numpy as np
import pytest
import torch

from simulators.associative_memory import learned, theory
from simulators.associative_memory.hopfield import (dense_bit_error, hopfield_sweep, patterns, random_signs,
                                                    retrieval_overlap)
from simulators.associative_memory.model import (BLOCK, SAMPLE_BLOCK, embedding_block, input_embeddings,
                                                 measure_error, measure_error_per_trial, memory_weights,
                                                 output_embeddings, sample_counts, sample_uniforms, trial_chunks,
                                                 zipf_probs)
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



def _hetero_q(p, d, seeds):
    """Different memories per trial (scheme mix and sampled counts differ by trial): [R, 3, N]."""
    N = len(p)
    rows = []
    for r, s in enumerate(seeds):
        counts = sample_counts([s], p, 200 * (r + 1), (r,))[0]
        rows.append(torch.stack([memory_weights(sc, p, counts, d=d) for sc in
                                 (["pop^1", "seen", "threshold"], ["freq^1", "pop^0.5", "pop_threshold"],
                                  ["seen", "freq^0.5", "pop^1"])[r % 3]]))
    return torch.stack(rows)


@pytest.mark.parametrize("chunk_bytes", [1, 4 * 700 * 48 * 2, None])
def test_trial_chunks_give_identical_errors(chunk_bytes):
    """Heterogeneous trials (their own memories, per-trial p rows), chunks of one trial, of two with a ragged
    last chunk (the boundary splits the trials), one chunk, held or streamed block by block: every error equals,
    bit for bit, that trial scored alone (per-trial computation); and the per-trial oracle within 1e-6."""
    N, M, d, seeds = 700, 5, 48, [0, 3, 7]
    p = zipf_probs(N, 2.0)
    q = _hetero_q(p, d, seeds)                                                       # [R, C, N]
    P = torch.stack([torch.stack([zipf_probs(N, a)] * 3) for a in (1.5, 2.0, 3.0)])  # [R, C, N]
    alone = torch.cat([measure_error(q[r:r + 1], P[r:r + 1], [s], d, M) for r, s in enumerate(seeds)])
    assert torch.equal(measure_error(q, P, seeds, d, M, chunk_bytes=chunk_bytes), alone)
    assert torch.equal(measure_error(q, P, seeds, d, M, chunk_bytes=chunk_bytes, hold_bytes=0), alone)
    assert torch.allclose(alone, measure_error_per_trial(q, P, seeds, d, M), atol=1e-6)
    assert len({tuple(r.tolist()) for r in alone}) == 3                              # the trials really differ


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


def test_embeddings_are_per_trial_and_blocks_are_counter_addressed():
    """A trial's embeddings do not depend on its batch-mates; token block b drawn alone (counter b) is rows
    b·BLOCK.. of the whole draw (ragged last block: N = 600); float64 draws are the float32 ones within one
    float32 rounding of the scale d^(-1/2) (the float32 normal is rounded before it is scaled)."""
    N, d = 600, 8
    both = input_embeddings([4, 1], d, N)
    assert both.shape == (2, N, d)
    assert torch.equal(both[1:], input_embeddings([1], d, N))
    for b in range(math.ceil(N / BLOCK)):
        assert torch.equal(embedding_block([4, 1], d, b, N), both[:, b * BLOCK:(b + 1) * BLOCK])
    e64 = input_embeddings([4, 1], d, N, dtype=torch.float64)
    assert torch.allclose(e64.float(), both, rtol=2 ** -23, atol=0) and not torch.equal(e64, both.double())
    u = output_embeddings([4, 1], d, 5, dtype=torch.float64)
    assert torch.allclose(u.norm(dim=-1), torch.ones(2, 5, dtype=torch.float64))
    assert not torch.equal(input_embeddings([4], 16, N)[0, :, :8] * 2 ** 0.5, both[0])   # d is a key


def test_embedding_moments():
    """sqrt(d)·e_x entries: mean 0, variance 1 over n = 3·600·64 = 115200 numbers (sd of the sample variance
    sqrt(2/n) = 0.0042). The nearest wrong variants — N(0, I/d²) (variance 1/64) or N(0, I) scaled twice — miss
    by > 200 sd; the tolerance 0.025 is 6 sd. Rows within a trial are uncorrelated: |corr(e_0, e_1)| < 6/sqrt(n)."""
    d = 64
    E = input_embeddings([0, 1, 2], d, 600, dtype=torch.float64) * d ** 0.5
    assert abs(float(E.mean())) < 6 / math.sqrt(E.numel())
    assert abs(float(E.var()) - 1) < 0.025
    x, y = E[:, :-1].reshape(-1), E[:, 1:].reshape(-1)
    assert abs(float((x * y).mean())) < 6 / math.sqrt(x.numel())


def test_sample_streams_are_counter_addressed_and_chunking_free():
    """Samples n0..n1 of a stream drawn alone equal that slice of the whole stream (a resumed draw), across
    SAMPLE_BLOCK boundaries; counts do not depend on the chunk size; per-trial keys give per-trial streams."""
    T = 2 * SAMPLE_BLOCK + 123
    keys = [[5, 0], [5, 1], [6, 0]]
    whole = sample_uniforms([0, 0, 2], 0, T, keys)
    assert whole.shape == (3, T) and whole.dtype == torch.float64
    for n0, n1 in ((0, 10), (SAMPLE_BLOCK - 7, SAMPLE_BLOCK + 9), (SAMPLE_BLOCK + 3, T)):
        assert torch.equal(sample_uniforms([0, 0, 2], n0, n1, keys), whole[:, n0:n1])
    assert torch.equal(sample_uniforms([0], 0, T, [5, 1]), whole[1:2])                 # batch independence
    p = zipf_probs(50, 1.5)
    full = sample_counts([0, 0, 2], p, T, keys)
    assert torch.equal(sample_counts([0, 0, 2], p, T, keys, chunk=SAMPLE_BLOCK), full)
    assert full.sum(1).tolist() == [T] * 3 and not torch.equal(full[0], full[1])


def test_sample_counts_follow_p():
    """Pearson chi² of the counts of T = 131072 Zipf(1.5) draws over 20 tokens (the tail of N = 2000 pooled in
    the last bin), df = 19: under the right sampler chi² ≈ 19 ± 6.2; we accept chi² < 19 + 6·6.2 = 56 (z = 6).
    The nearest plausible wrong variant, an off-by-one inverse CDF (token x drawn as x+1), gives chi² > 10⁴."""
    N, T = 2000, 1 << 17
    p = zipf_probs(N, 1.5)
    n = sample_counts([3], p, T, (1,))[0]
    obs = torch.cat([n[:19], n[19:].sum(0, keepdim=True)])
    exp = T * torch.cat([p[:19], p[19:].sum(0, keepdim=True)])
    chi2 = float(((obs - exp) ** 2 / exp).sum())
    assert chi2 < 19 + 6 * math.sqrt(38)
    shifted = torch.cat([torch.zeros(1, dtype=n.dtype), n[:-1]])
    obs_w = torch.cat([shifted[:19], shifted[19:].sum(0, keepdim=True)])
    assert float(((obs_w - exp) ** 2 / exp).sum()) > 1e4


def test_random_signs_are_fair_and_counter_addressed():
    """n = 4·10⁵ signs: mean within 6/sqrt(n) of 0 (z = 6; a stuck bit per 32-bit word, the plausible bit-layout
    bug, shifts the mean by 1/32 = 20 sd); neighbouring signs uncorrelated (same bound); a shorter draw is a
    prefix of a longer one; per-trial keys give per-trial signs."""
    n = 400_000
    s = random_signs([0, 1], 2, n, (9,))
    assert set(s.unique().tolist()) == {-1.0, 1.0}
    for row in s:
        assert abs(float(row.mean())) < 6 / math.sqrt(n)
        assert abs(float((row[1:] * row[:-1]).mean())) < 6 / math.sqrt(n)
    assert torch.equal(random_signs([1], 2, 1000, (9,)), s[1:, :1000])
    assert not torch.equal(s[0], s[1])
    assert torch.equal(patterns([0, 1], 20, 7, 11)[1], random_signs([1], 2, 140, (20, 7, 11))[0].view(7, 20))


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
    e = [float(error_infinite_capacity(sample_counts([0], p, T, (T,))[0], p)) for T in (100, 1000, 10000)]
    assert e[0] > e[1] > e[2]


def test_seen_scheme_is_overloaded_until_d_exceeds_seen_tokens():
    """'seen' stores every seen token (here ~900): at d = 64 the memory is overloaded and barely beats chance."""
    N, M = 2000, 5
    p = zipf_probs(N, 1.5)
    counts = sample_counts([0], p, 20000, (1,))[0]
    q = memory_weights("seen", p, counts)[None, None]
    e_small, e_big = (float(measure_error(q, p[None], [0], d, M)[0, 0]) for d in (64, 4096))
    assert e_small > 0.5 and e_big < 0.5 * e_small


def test_sgd_coefficient_form_equals_dense_sgd():
    N, M, d = 300, 5, 24
    p = zipf_probs(N, 2.0)
    seeds = [0, 1]
    Emb = learned.input_embeddings(seeds, d, N, dtype=torch.float64)
    U = learned.output_embeddings(seeds, d, M, dtype=torch.float64)
    tok = learned.sample_tokens(seeds, p, 1024, 0)
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
    """N = 400, 3 trials. Load 0.05 (< α_c ≈ 0.138): every trial retrieves (measured overlap 1.0). Load 0.30:
    measured overlaps 0.23, 0.49, 0.39 (mean 0.37, per-trial sd ≈ 0.13, so the 3-trial mean has sd ≈ 0.075 and
    the 0.7 bound sits 4.4 sd above it). Nearest plausible wrong variant: the self-coupling J_ii = P/N left in
    (the diagonal not removed) pins the state near the pattern: overlaps 0.995, 0.845, 0.99 (mean 0.94, z ≈ 7.6
    from the right mean, 3.2 sd above the bound)."""
    lo = retrieval_overlap(patterns([0, 1, 2], 400, 20, 11), 30)[0]        # load 0.05
    hi = retrieval_overlap(patterns([0, 1, 2], 400, 120, 11), 30)[0]       # load 0.30
    assert lo.min() > 0.97 and hi.mean() < 0.7


def test_retrieval_checkpoints_do_not_change_the_dynamics():
    """Stopping only at the geometric checkpoints (sweeps 1, 2, 4, ...) gives the same final overlap and the same
    sweeps-to-fixed-point as running every sweep. Load 0.16 (past capacity): trials reach their fixed point
    between checkpoints and some never do (2-cycles), so both the early stop and the cap are exercised."""
    xi = patterns(list(range(6)), 300, 48, 11)
    m, sw = retrieval_overlap(xi, 40)
    s = xi[:, 0].clone()
    sweeps = torch.full((6,), 40, dtype=torch.long)
    for t in range(40):
        s, sweeps = hopfield_sweep(xi, s, sweeps, t)
    assert torch.equal(sw, sweeps) and torch.equal(m, (xi[:, 0] * s).mean(1))
    assert any(0 < v < 40 and (v + 1) & v for v in sw.tolist())      # converged between two checkpoints


def test_dense_bit_error_increases_with_P():
    e = [float(dense_bit_error(patterns([0, 1], 32, P, 12, 3), 3, 4).mean()) for P in (20, 400)]
    assert e[0] < e[1]


@pytest.mark.slow
def test_threshold_dim_exponent_matches_theory_and_rejects_a_wrong_value():
    """Threshold scheme at a = 2, N = 3000, d = 16..256, 8 seeds. Target: the slope over the same window of the
    theory curve (theory.predicted_error_dim_curve: tail mass beyond P = d/8 plus Gaussian interference, finite N;
    0.948 here, where the asymptote a − 1 = 1 does not yet hold). Accept |fit − target| <= 3 se, se = bootstrap CI
    half-width / 1.96 (0.0107 measured; the fit sat 0.939, −0.8 se). Nearest plausible wrong variants of the
    simulator: a threshold at d/16 or d/4 instead of d/8 (window slopes 0.884 and 0.875: z = 6.0 and 6.8), a
    Zipf exponent a ± 0.2 (0.766 / 1.133: z ≈ 17); target ± 0.3 (z ≈ 28) and the q = p exponent 0.25 (z ≈ 65):
    all must be rejected by the same rule. Not resolved at z >= 6: the asymptote a − 1 = 1 itself (z ≈ 4.8; 16
    seeds do not help, their bootstrap se came out 0.013: the per-seed slopes are heavy-tailed), which is why the
    target is the window slope; the window-slope-vs-asymptote gap is a theory property checked exactly in
    test_theory.py."""
    from simulators.harness.fit import window_slope

    N, M, ds, seeds = 3000, 5, [16, 32, 64, 128, 256], list(range(8))
    p = zipf_probs(N, 2.0)
    y = np.zeros((len(seeds), len(ds)))
    for j, d in enumerate(ds):
        q = _q(p, ["pop_threshold"], d)[None].expand(len(seeds), -1, -1)
        y[:, j] = measure_error(q, p[None], seeds, d, M)[:, 0].numpy()
    fit = fit_power_law(ds, y, window="all")
    x = np.array(ds, float)

    def slope(a=2.0, c=8.0):
        return window_slope(x, theory.predicted_error_dim_curve(N, a, M, ds, "threshold", 1.0, c), fit.window)

    target = slope()
    se = (fit.ci95[1] - fit.ci95[0]) / 2 / 1.96
    assert se < 0.012, se                                   # the z values above assume this se

    def accepts(value):
        return abs(fit.exponent - value) <= 3 * se

    assert accepts(target)
    for wrong in (slope(c=16.0), slope(c=4.0), slope(a=1.8), slope(a=2.2), target + 0.3, target - 0.3,
                  theory.predicted_exponent_dim(2.0, "power")):
        assert not accepts(wrong), wrong


def test_chunked_scorer_is_bit_identical_to_the_block_streamed_restatement():
    """The scorer's float32 arithmetic restated plainly (all trials at once, E stacked per token block, W Uᵀ
    accumulated block by block, scores per block) must match bit for bit, with chunks of one trial and one chunk,
    held or streamed. Fails if the error sum is reassociated or a block is drawn from the wrong counter."""
    from simulators.associative_memory.model import labels

    N, M, d, seeds = 600, 5, 24, [2, 5]
    p = zipf_probs(N, 2.0)
    q = torch.stack([_q(p, ["pop^1", "pop^0.5"], d)] * 2)                          # [R, C, N]
    R, C, _ = q.shape
    f = labels(N, M)
    U = output_embeddings(seeds, d, M)
    G = torch.bmm(U, U.transpose(1, 2))
    qG = (q.float()[..., None] * G[:, None, f, :]).permute(0, 2, 1, 3).reshape(R, N, C * M)
    blocks = [embedding_block(seeds, d, b, N) for b in range(math.ceil(N / BLOCK))]
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


def test_learned_token_cache_returns_the_streams_of_its_arguments():
    """The one-entry token cache of train_memory: same arguments -> the same stream; any changed argument
    (seeds, T, key, p) -> that argument's fresh stream."""
    p2, p3 = zipf_probs(300, 2.0), zipf_probs(300, 3.0)
    s = torch.tensor([0, 4])
    a = learned._cached_tokens(s, p2, 512, 0)
    assert torch.equal(a, learned.sample_tokens(s, p2, 512, 0)) and learned._cached_tokens(s, p2, 512, 0) is a
    for args in ((torch.tensor([0, 5]), p2, 512, 0), (s, p2, 256, 0), (s, p2, 512, 1), (s, p3, 512, 0)):
        assert torch.equal(learned._cached_tokens(*args), learned.sample_tokens(*args))
