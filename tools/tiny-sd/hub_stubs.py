"""Stand-ins for the hub and file-format packages that diffusers imports at module level but never calls here
(huggingface_hub, safetensors): Debian has neither, and the training only needs diffusers' model classes.

install() registers an import hook; any attribute of a stubbed module is a harmless placeholder (an upper-case
name is a string, as the hub's constants are; anything else a class that can be subclassed or called)."""
import importlib.abc
import importlib.machinery
import sys
import types

STUBBED = ("huggingface_hub", "safetensors", "torch.distributed._functional_collectives",
           "torch.nn.attention")


class _Placeholder:
    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return None


class _StubModule(types.ModuleType):
    __path__ = []  # a package, so submodules resolve through the hook too

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = "/nonexistent/hub" if name.isupper() else type(name, (_Placeholder,), {})
        setattr(self, name, value)
        return value


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if any(fullname == s or fullname.startswith(s + ".") for s in STUBBED):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _StubModule(spec.name)
        module.__version__ = "0.99.0"
        return module

    def exec_module(self, module):
        pass


def _patch_old_torch():
    """torch 1.13 lacks a few back-end namespaces that diffusers' utilities reference in dictionaries at import."""
    import torch
    for name in ("xpu", "mps"):
        backend = getattr(torch, name, None)
        if backend is None:
            backend = types.SimpleNamespace()
            setattr(torch, name, backend)
        for fn in ("empty_cache", "device_count", "manual_seed", "reset_peak_memory_stats", "max_memory_allocated",
                   "synchronize", "is_available"):
            if not hasattr(backend, fn):
                setattr(backend, fn, lambda *a, **k: 0)
    if not hasattr(torch, "compiler"):
        torch.compiler = types.SimpleNamespace(disable=lambda fn=None, **k: fn if fn is not None else (lambda f: f),
                                               is_compiling=lambda: False, cudagraph_mark_step_begin=lambda: None)
    import torch.distributed as dist
    if not hasattr(dist, "device_mesh"):
        dist.device_mesh = types.SimpleNamespace(DeviceMesh=type("DeviceMesh", (), {}))
    # dtypes newer than 1.13, named in quantizer tables only: unique sentinels that equal no real dtype
    for name in ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu", "float4_e2m1fn_x2",
                 "uint1", "uint2", "uint3", "uint4", "uint5", "uint6", "uint7", "uint16", "uint32", "uint64",
                 "int1", "int2", "int3", "int4", "int5", "int6", "int7"):
        if not hasattr(torch, name):
            setattr(torch, name, type(name, (), {})())


def install():
    _patch_old_torch()
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
