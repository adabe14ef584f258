"""The reference side of the `user-steps` benchmark: diffusers' schedulers on torch (CPU, one thread).

Run by benchmarks/Sdk.Benchmarks (UserStepsSuite), which talks to it over stdin/stdout, one JSON object per line,
so that each reference measurement lies next to the SDK's measurement of the same case. Requests:

  {"op": "hello"}                                      -> {"torch": "1.13.0", "diffusers": "0.40.0.dev0"}
  {"op": "loop", "class": "DDIMScheduler", "shape": [1, 4, 64, 64], "steps": 50, "runs": 5, "thread_time": true}
                                                       -> {"us_per_call": ..., "calls": 50}  (median of the runs)
  {"op": "randn", "shape": [1, 4, 64, 64], "draws": 100, "runs": 7, "thread_time": true}
                                                       -> {"us": ...}  (median over runs of the mean draw)

diffusers is not installed as a package: DIFFUSERS_SRC names a checkout's `src` folder (see docs/benchmarks.md).
Only its scheduler modules are imported. The package modules they import at import time (configuration
handling, hub and logging utilities) are replaced by the small stand-ins below, which provide only what a
scheduler's constructor, set_timesteps, scale_model_input and step use: the config object and randn_tensor.
"""

import collections
import dataclasses
import enum
import functools
import importlib
import inspect
import json
import logging
import os
import re
import statistics
import sys
import time
import types

import torch


def _install_stand_ins(src):
    root = os.path.join(src, "diffusers")
    if not os.path.isdir(os.path.join(root, "schedulers")):
        raise FileNotFoundError(f"DIFFUSERS_SRC={src} holds no diffusers/schedulers folder")

    def package(name, path):
        module = types.ModuleType(name)
        module.__path__ = [path]
        sys.modules[name] = module
        return module

    package("diffusers", root)
    package("diffusers.schedulers", os.path.join(root, "schedulers"))

    class FrozenConfig(collections.OrderedDict):
        """The config object: a dict whose keys are also attributes, as the schedulers read it."""

        def __init__(self, values):
            super().__init__(values)
            for key, value in values.items():
                object.__setattr__(self, key, value)

    class ConfigMixin:
        config_name = "scheduler_config.json"

        def register_to_config(self, **kwargs):
            kwargs.pop("kwargs", None)
            previous = dict(getattr(self, "_internal_dict", {}))
            self._internal_dict = FrozenConfig({**previous, **kwargs})

        @property
        def config(self):
            return self._internal_dict

    def register_to_config(init):
        @functools.wraps(init)
        def inner(self, *args, **kwargs):
            signature = inspect.signature(init)
            names = [n for i, n in enumerate(signature.parameters) if i > 0]
            values = {n: p.default for n, p in list(signature.parameters.items())[1:] if p.default is not inspect.Parameter.empty}
            values.update(zip(names, args))
            values.update({k: v for k, v in kwargs.items() if not k.startswith("_")})
            ignore = getattr(self, "ignore_for_config", [])
            self.register_to_config(**{k: v for k, v in values.items() if k not in ignore and k != "kwargs"})
            init(self, *args, **kwargs)

        return inner

    configuration = types.ModuleType("diffusers.configuration_utils")
    configuration.ConfigMixin = ConfigMixin
    configuration.register_to_config = register_to_config
    configuration.FrozenDict = FrozenConfig
    sys.modules[configuration.__name__] = configuration

    class BaseOutput(collections.OrderedDict):
        def __post_init__(self):
            for field in dataclasses.fields(self):
                value = getattr(self, field.name)
                if value is not None:
                    self[field.name] = value

        def to_tuple(self):
            return tuple(self[k] for k in self.keys())

    utils = types.ModuleType("diffusers.utils")
    utils.__path__ = []
    utils.BaseOutput = BaseOutput
    utils.PushToHubMixin = object
    utils.deprecate = lambda *args, **kwargs: None
    utils.is_scipy_available = lambda: True
    if importlib.util.find_spec("scipy") is None:
        _install_scipy_stand_in()
    utils.logging = types.SimpleNamespace(get_logger=logging.getLogger)
    sys.modules[utils.__name__] = utils

    def randn_tensor(shape, generator=None, device=None, dtype=None, layout=None):
        # What diffusers' randn_tensor does for one CPU generator.
        return torch.randn(shape, generator=generator, dtype=dtype, layout=layout or torch.strided, device=device or "cpu")

    torch_utils = types.ModuleType("diffusers.utils.torch_utils")
    torch_utils.randn_tensor = randn_tensor
    sys.modules[torch_utils.__name__] = torch_utils

    Karras = enum.Enum("KarrasDiffusionSchedulers", [
        "DDIMScheduler", "DDPMScheduler", "PNDMScheduler", "LMSDiscreteScheduler", "EulerDiscreteScheduler",
        "HeunDiscreteScheduler", "EulerAncestralDiscreteScheduler", "DPMSolverMultistepScheduler",
        "DPMSolverSinglestepScheduler", "KDPM2DiscreteScheduler", "KDPM2AncestralDiscreteScheduler",
        "DEISMultistepScheduler", "UniPCMultistepScheduler", "DPMSolverSDEScheduler", "EDMEulerScheduler"])

    @dataclasses.dataclass
    class SchedulerOutput(BaseOutput):
        prev_sample: torch.Tensor

    class SchedulerMixin:
        config_name = "scheduler_config.json"
        _compatibles = []
        has_compatibles = True

    scheduling_utils = types.ModuleType("diffusers.schedulers.scheduling_utils")
    scheduling_utils.KarrasDiffusionSchedulers = Karras
    scheduling_utils.SchedulerMixin = SchedulerMixin
    scheduling_utils.SchedulerOutput = SchedulerOutput
    sys.modules[scheduling_utils.__name__] = scheduling_utils

    version = re.search(r'__version__ = "([^"]+)"', open(os.path.join(root, "__init__.py"), encoding="utf-8").read())
    return root, version.group(1) if version else "unknown"


SCIPY = "scipy " + (importlib.import_module("scipy").__version__ if importlib.util.find_spec("scipy") else "not installed")


def _install_scipy_stand_in():
    """LMSDiscreteScheduler integrates its coefficients with scipy.integrate.quad. Without scipy, quad is stood in
    by what QUADPACK's first pass costs and gives on these integrands: the integrand evaluated at 21 nodes and
    summed. The integrands are polynomials of degree < 4 in sigma, so QUADPACK accepts its first 21-point
    Gauss-Kronrod estimate; a 21-point Gauss-Legendre rule gives the same integral to rounding, with the same
    number of Python calls of the integrand, which are the cost."""
    global SCIPY
    import numpy

    nodes, weights = numpy.polynomial.legendre.leggauss(21)
    nodes, weights = [float(x) for x in nodes], [float(w) for w in weights]

    def quad(func, a, b, epsrel=1.49e-8, **kwargs):
        half, middle = (b - a) / 2, (a + b) / 2
        total = 0.0
        for x, w in zip(nodes, weights):
            total += w * func(middle + half * x)
        return total * half, 0.0

    def beta_ppf(*args, **kwargs):
        raise NotImplementedError("scipy.stats.beta.ppf: scipy is not installed (beta sigmas are not measured)")

    scipy = types.ModuleType("scipy")
    scipy.__path__ = []
    integrate = types.ModuleType("scipy.integrate")
    integrate.quad = quad
    stats = types.ModuleType("scipy.stats")
    stats.beta = types.SimpleNamespace(ppf=beta_ppf)
    scipy.integrate, scipy.stats = integrate, stats
    sys.modules.update({"scipy": scipy, "scipy.integrate": integrate, "scipy.stats": stats})
    SCIPY = "scipy not installed: scipy.integrate.quad stood in by a 21-point Gauss-Legendre sum in Python (the same 21 calls of the integrand)"


_classes = {}


def _scheduler_class(root, name):
    if name not in _classes:
        folder = os.path.join(root, "schedulers")
        for file in sorted(os.listdir(folder)):
            if file.startswith("scheduling_") and file.endswith(".py"):
                text = open(os.path.join(folder, file), encoding="utf-8").read()
                if re.search(rf"^class {re.escape(name)}\(", text, re.MULTILINE):
                    module = importlib.import_module("diffusers.schedulers." + file[:-3])
                    _classes[name] = getattr(module, name)
                    break
        else:
            raise KeyError(f"no scheduler class {name} in {folder}")
    return _classes[name]


# The schedule of the measurement: Stable Diffusion's (scaled linear, 1000 training steps); everything else the
# scheduler's defaults. The SDK side builds the same configuration.
CONFIG = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")


def _loop(cls, shape, steps, model_output, clock):
    """One user-shaped run: a fresh scheduler, set_timesteps, then scale_model_input + step per timestep."""
    start = clock()
    scheduler = cls(**CONFIG)
    scheduler.set_timesteps(steps)
    generator = torch.Generator().manual_seed(42)
    sample = torch.randn(shape, generator=generator) * scheduler.init_noise_sigma
    takes_generator = "generator" in inspect.signature(scheduler.step).parameters
    extra = {"generator": generator} if takes_generator else {}
    calls = 0
    for t in scheduler.timesteps:
        scheduler.scale_model_input(sample, t)
        sample = scheduler.step(model_output, t, sample, return_dict=False, **extra)[0]
        calls += 1
    return (clock() - start) * 1e6 / calls, calls


def main():
    torch.set_num_threads(1)
    src = os.environ.get("DIFFUSERS_SRC")
    root, version, problem = None, None, "DIFFUSERS_SRC is not set"
    if src:
        try:
            root, version = _install_stand_ins(src)
        except Exception as error:
            problem = f"{type(error).__name__}: {error}"
    for line in sys.stdin:
        request = json.loads(line)
        # The caller's clock: the thread's CPU time (counts only the time this thread ran), or wall time.
        clock = time.thread_time if request.get("thread_time") else time.perf_counter
        try:
            if request["op"] == "hello":
                reply = {"torch": torch.__version__, "diffusers": version, "problem": None if version else problem, "scipy": SCIPY}
            elif request["op"] == "loop":
                if root is None:
                    raise RuntimeError("DIFFUSERS_SRC is not set")
                cls = _scheduler_class(root, request["class"])
                shape = request["shape"]
                model_output = torch.randn(shape, generator=torch.Generator().manual_seed(3)) * 0.1
                _loop(cls, shape, request["steps"], model_output, clock)  # warm-up
                runs = [_loop(cls, shape, request["steps"], model_output, clock) for _ in range(request["runs"])]
                reply = {"us_per_call": statistics.median(r[0] for r in runs), "calls": runs[0][1]}
            elif request["op"] == "randn":
                shape, draws = request["shape"], request["draws"]
                generator = torch.Generator().manual_seed(1)
                for _ in range(draws):
                    torch.randn(shape, generator=generator)
                times = []
                for _ in range(request["runs"]):
                    start = clock()
                    for _ in range(draws):
                        torch.randn(shape, generator=generator)
                    times.append((clock() - start) * 1e6 / draws)
                reply = {"us": statistics.median(times)}
            else:
                reply = {"error": f"unknown op {request['op']}"}
        except Exception as error:  # reported to the caller, which prints "not measured" with the reason
            reply = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
