"""GPU-shape proofs (issue 13, part 3) for the associative-memory steps, with simulators/harness/dispatch_audit.py.

Each step below is audited for E and 8·E instances: the multiset of dispatched aten ops must be identical (one
batched computation: no loop over trials) and no host-synchronising op may occur (no `.item()`, no `if tensor:`,
no data-dependent shape), except where a bounded number is stated with its reason. Steps:
- scoring: `model.score_chunk` (draws the chunk's embeddings with Philox inside the step, held or streamed
  block by block), and the sample-count step `model.sample_counts`;
- Hopfield: one synchronous sweep `hopfield.hopfield_sweep`, the whole `retrieval_overlap` (bounded syncs: one
  host check per geometric checkpoint), `dense_bit_error`, and the pattern draw;
- learned memories: `learned.dense_step` (SGD and sign-Adam, with and without LN) and `learned.coef_step`.
The last tests put a per-trial loop and a per-sweep `.item()`/readback back and check the audit catches both.
"""
import math

import pytest
import torch

from simulators.associative_memory import learned
from simulators.associative_memory.hopfield import dense_bit_error, hopfield_sweep, patterns, retrieval_overlap
from simulators.associative_memory.model import (embedding_block, labels, memory_weights, output_embeddings,
                                                 sample_counts, score_chunk, zipf_probs)
from simulators.harness.dispatch_audit import assert_gpu_shaped, audit

N, M, d = 300, 5, 8          # small: every Philox draw stays in one chunk of _rng for E and 8E


def _scoring_state(E):
    p = zipf_probs(N, 2.0)
    q = torch.stack([memory_weights(s, p, d=d) for s in ("pop^1", "pop_threshold")])[None].expand(E, -1, -1)
    s = torch.arange(E, dtype=torch.int64) * 7 + 1
    U = output_embeddings(s, d, M)
    return q.float().contiguous(), p.expand(E, 2, N).contiguous(), s, torch.bmm(U, U.transpose(1, 2)), labels(N, M)


@pytest.mark.parametrize("hold", [True, False])
def test_scoring_step_is_gpu_shaped(hold):
    def make(E):
        q, p, s, G, f = _scoring_state(E)
        return lambda: score_chunk(q, p, s, G, f, d, M, hold=hold)

    small, large = assert_gpu_shaped(make, E_small=2)
    assert small.n_ops > 0 and small.value.shape == (2, 2) and large.value.shape == (16, 2)


def test_sample_count_step_is_gpu_shaped():
    p = zipf_probs(N, 1.5)

    def make(E):
        seeds = torch.arange(E, dtype=torch.int64)
        return lambda: sample_counts(seeds, p, 5000, 3, 1)

    assert_gpu_shaped(make, E_small=2)


def test_hopfield_sweep_and_pattern_draw_are_gpu_shaped():
    def make_sweep(E):
        xi = patterns(torch.arange(E), 64, 12, 11)
        s, sweeps = xi[:, 0].clone(), torch.full((E,), 10, dtype=torch.long)
        return lambda: hopfield_sweep(xi, s, sweeps, 3)

    assert_gpu_shaped(make_sweep, E_small=3)
    assert_gpu_shaped(lambda E: (lambda: patterns(torch.arange(E), 64, 12, 11)), E_small=3)
    assert_gpu_shaped(lambda E: (lambda xi: lambda: dense_bit_error(xi, 3, 2))(patterns(torch.arange(E), 32, 40, 12, 3)),
                      E_small=3)


def test_retrieval_has_one_host_check_per_geometric_checkpoint():
    """A whole retrieval of 16 sweeps in which a trial never converges (load 0.5): host checks only after sweeps 1, 2, 4, 8,
    i.e. 4 = ⌈log2 16⌉ syncs per call for any E (the bound), none inside a sweep."""
    def make(E):
        xi = patterns(torch.arange(E), 64, 32, 11)
        return lambda: retrieval_overlap(xi, 16)

    small, large = assert_gpu_shaped(make, E_small=2, allowed_syncs=4,
                                     reason="early-stop check at geometric checkpoints (sweeps 1, 2, 4, 8)")
    assert small.n_syncs == large.n_syncs == 4
    assert 16 in small.value[1].tolist()                   # a trial never converged: all checkpoints were reached


def _learned_state(E, dd=8):
    p = zipf_probs(N, 2.0)
    s = torch.arange(E, dtype=torch.int64)
    Emb = learned.input_embeddings(s, dd, N)
    U = learned.output_embeddings(s, dd, M)
    x = learned.sample_tokens(s, p, 32, 0)
    return Emb, U, labels(N, M), x, torch.full((E,), 0.5)


@pytest.mark.parametrize("optimizer, betas, normalize", [("sgd", (0.9, 0.999), False), ("adam", (0.0, 0.0), False),
                                                         ("adam", (0.9, 0.999), True)])
def test_learned_dense_step_is_gpu_shaped(optimizer, betas, normalize):
    def make(E):
        Emb, U, f, x, lr = _learned_state(E)
        W = torch.zeros(E, 8, 8)
        m, v = torch.zeros_like(W), torch.zeros_like(W)
        return lambda: learned.dense_step(W, m, v, Emb, U, f, x, lr, 0, optimizer=optimizer, betas=betas,
                                          normalize=normalize)

    assert_gpu_shaped(make, E_small=2, warmup=2)


def test_learned_coef_step_is_gpu_shaped():
    def make(E):
        Emb, U, f, x, lr = _learned_state(E)
        C = torch.zeros(E, N, M)
        G = torch.bmm(U, U.transpose(1, 2))
        WUt = torch.zeros(E, 8, M)
        return lambda: learned.coef_step(C, WUt, Emb, G, f, x, lr)

    assert_gpu_shaped(make, E_small=2)


# ----------------------------------------------------------------- the audit catches a regression
def test_audit_catches_a_per_trial_loop_put_back():
    """The former embedding draw (one stream per trial, in a Python loop) inside the scoring step: op counts ∝ E."""
    def make(E):
        q, p, s, G, f = _scoring_state(E)

        def step():
            blocks = [torch.cat([embedding_block([int(t)], d, b, N) for t in s]) for b in range(math.ceil(N / 256))]
            return score_chunk(q, p, s, G, f, d, M, hold=True), blocks
        return step

    with pytest.raises(AssertionError, match="op counts per step differ"):
        assert_gpu_shaped(make, E_small=2)


def test_audit_catches_a_per_sweep_item_put_back():
    """The former retrieval loop read `changed.any()` on the host after every sweep: one sync per sweep."""
    def make(E):
        xi = patterns(torch.arange(E), 64, 12, 11)
        s, sweeps = xi[:, 0].clone(), torch.full((E,), 10, dtype=torch.long)

        def step():
            new, sw = hopfield_sweep(xi, s, sweeps, 3)
            return bool((new != s).any().item())
        return step

    with pytest.raises(AssertionError, match="host-synchronising"):
        assert_gpu_shaped(make, E_small=2)
    assert audit(make(2)).n_syncs == 1
