"""The lr of a PLRF feature draw whose exact stability bound sits below the nominal lr (its spectrum spreads
beyond the proxy j^-2α at small v/d): plrf.phases lowers that draw's lr to 0.9 × its own bound and says so;
plrf.loss_curves (the user's fixed lr) refuses in one line naming lr. Exact checks, no statistics."""
import numpy as np
import pytest
import torch

from simulators.harness.fieldcheck import ConfigError
from simulators.random_features import experiments as ex
from simulators.random_features import theory as th


def _lams():
    base = np.array([j ** -2.0 for j in range(1, 17)])
    return torch.tensor(np.stack([base, 3.0 * base]))          # draw 1: 3x the spectrum -> ~1/3 the bound


def test_phases_lowers_only_the_draws_above_their_own_bound():
    lam = _lams()
    b0, b1 = (th.plrf_lr_bound(lam[e].numpy(), 4) for e in range(2))
    lr = 0.5 * b0
    assert b1 < lr < b0                                        # the case: draw 1 alone is unstable at lr
    lrs, low = ex._ph_draw_lrs(lam, lr, 4)
    assert low == 1 and lrs[0] == lr and lrs[1] == pytest.approx(0.9 * b1, rel=1e-12)
    lrs, low = ex._ph_draw_lrs(lam, 0.5 * b1, 4)               # below every bound: untouched
    assert low == 0 and (lrs == 0.5 * b1).all()


def test_loss_curves_refuses_a_draw_above_its_bound_in_one_line_naming_lr():
    lam = _lams()
    b1 = th.plrf_lr_bound(lam[1].numpy(), 4)
    with pytest.raises(ConfigError, match=r"^lr=\S+ is above the one-pass SGD stability bound .* choose lr <") as e:
        ex._plrf_check_lr(lam, 1.01 * b1, 4)
    assert "\n" not in str(e.value)
    ex._plrf_check_lr(lam, 0.99 * b1, 4)                      # every draw stable: accepted
