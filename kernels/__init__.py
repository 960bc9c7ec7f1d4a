"""Public ops. Each op: a plain-PyTorch reference, a Triton kernel, and a dispatcher (`backend=`)."""
from ._backend import BACKENDS, resolve_backend
from .bmm_epilogue import ACTIVATIONS, bmm_epilogue, bmm_epilogue_reference

__all__ = ["BACKENDS", "resolve_backend", "ACTIVATIONS", "bmm_epilogue", "bmm_epilogue_reference"]
