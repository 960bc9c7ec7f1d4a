"""Lottery tests run torch on one thread: on this shared 2-core machine two OpenMP threads of the compiled
step spin-wait for each other under load (a 20 s sweep took > 5 min of CPU with 2 threads)."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
