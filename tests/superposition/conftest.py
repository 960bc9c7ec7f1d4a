"""One torch thread for this family's tests: its ops are small and the CI box has 2 shared cores
(measured: a 150-step smoke training took 55 s with 2 threads next to one busy process, 1.2 s with 1)."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
