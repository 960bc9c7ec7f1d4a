"""Bad inputs are refused with a message naming the parameter."""
import pytest
import torch

from simulators.harness.registry import get_experiment
from simulators.lottery.config import LotteryConfig, RecipeConfig
from simulators.lottery.model import TwoLayerNets, act_and_grad


@pytest.mark.parametrize("kw,match", [
    (dict(widths=(0, 4)), "widths must be >= 1"),
    (dict(widths=(-3,)), "widths must be >= 1"),
    (dict(widths=()), "widths must be a non-empty"),
    (dict(widths=(8, 4)), "strictly increasing"),
    (dict(activation="sigmoid"), "activation must be one of"),
    (dict(target="x5"), "target must be one of"),
    (dict(interval=(2.0, 2.0)), "interval must be non-empty"),
    (dict(interval=(1.0, -1.0)), "interval must be non-empty"),
    (dict(interval=(0.0, float("inf"))), "interval must be two finite"),
    (dict(seeds=0), "seeds must be"),
    (dict(lr=0.0), "lr must be"),
    (dict(steps=0), "steps must be"),
    (dict(warmup_steps=10, steps=10), "warmup_steps"),
    (dict(optimizer="sgd"), "optimizer must be"),
    (dict(schedule="step"), "schedule must be"),
    (dict(n_train=1), "n_train"),
], ids=lambda v: str(v)[:30])
def test_lottery_config_rejects_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        LotteryConfig(**kw)


def test_lottery_recipe_config_rejects_bad_input():
    with pytest.raises(ValueError, match="precisions"):
        RecipeConfig(precisions=("float16",))
    with pytest.raises(ValueError, match="lbfgs_widths"):
        RecipeConfig(lbfgs_widths=(0,))


def test_lottery_config_lists_become_tuples():
    c = LotteryConfig(widths=[4, 8], interval=[-1, 1])
    assert c.widths == (4, 8) and c.interval == (-1, 1)
    hash(c)


def test_lottery_model_rejects_bad_input():
    with pytest.raises(ValueError, match="width must be >= 1"):
        TwoLayerNets(0, [0], "silu")
    with pytest.raises(ValueError, match="activation must be one of"):
        TwoLayerNets(4, [0], "softplus")
    with pytest.raises(ValueError, match="activation must be one of"):
        act_and_grad(torch.zeros(3), "softplus")


def test_lottery_experiment_override_refused_clearly():
    exp = get_experiment("lottery.silu")
    with pytest.raises(ValueError, match="activation must be one of"):
        exp.config("smoke", {"activation": "swish"})
    with pytest.raises(ValueError, match="unknown parameter"):
        exp.config("smoke", {"width": 4})
