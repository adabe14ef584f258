# Records the noise that diffusers' BrownianTreeNoiseSampler (DPMSolverSDEScheduler's) returns, on torchsde's
# BrownianInterval (tol 1e-6, pool 24, halfway tree), for a few seeds, shapes and query sequences, into
# tests/Sdk.Tests/TestData/brownian/brownian-tree.json.
#
# Run with Debian's python3-torch (torch 1.13) and a checkout of google-research/torchsde on the path, e.g.
#   TORCHSDE=/path/to/torchsde /usr/bin/python3 tools/brownian-tree/record.py OUT.json
# torchsde's only other dependency, the `trampoline` package, is replaced by trampoline.py beside this script.
import sys, os, json, math
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.environ.get('TORCHSDE', '.'))
sys.setrecursionlimit(100000)
import torch, torchsde

def sampler(x, sigma_min, sigma_max, seed):
    t0, t1 = torch.as_tensor(sigma_min), torch.as_tensor(sigma_max)
    t0, t1 = (t0, t1) if t0 < t1 else (t1, t0)
    tree = torchsde.BrownianInterval(t0=t0, t1=t1, size=x.shape, dtype=x.dtype, device=x.device, entropy=seed,
                                     tol=1e-6, pool_size=24, halfway_tree=True)
    def query(sigma, sigma_next):
        a, b = torch.as_tensor(sigma), torch.as_tensor(sigma_next)
        sign = 1
        if a > b: a, b, sign = b, a, -1
        w = tree(a, b) * sign
        return w / (b - a).abs().sqrt()
    return query

cases = []
def case(seed, shape, sigmas):
    # σ table as DPM-Solver SDE queries it: per interval (σ_i, midpoint), then (σ_i, σ_{i+1}); float32 values.
    sig = torch.tensor(sigmas, dtype=torch.float32)
    x = torch.zeros(shape)
    pos = sig[sig > 0]
    q = sampler(x, pos.min().item(), sig.max().item(), seed)
    queries, outputs = [], []
    for i in range(len(sigmas) - 1):
        s, sn = sig[i], sig[i + 1]
        if sn == 0: break
        t, tn = -s.log(), -sn.log()
        mid = (t + (tn - t) * 0.5)
        for a, b in ((s, (-mid).exp()), (s, sn)):
            queries.append([a.item(), b.item()])
            outputs.append(q(a, b).flatten().tolist())
    cases.append({"seed": seed, "shape": list(shape), "sigma_min": pos.min().item(), "sigma_max": sig.max().item(),
                  "queries": queries, "noise": outputs})

case(0, (2, 3), [14.6146, 7.0, 3.1, 1.2, 0.5, 0.1, 0.029167, 0.0])
case(42, (1, 4, 2, 2), [14.6146, 10.0, 6.0, 2.0, 0.9, 0.0])
case(12345, (3, 1, 4, 2), [80.0, 20.0, 5.0, 1.0, 0.2, 0.002, 0.0])
json.dump({"source": "torchsde BrownianInterval (google-research/torchsde HEAD), diffusers' BrownianTreeNoiseSampler arithmetic, torch " + torch.__version__,
           "cases": cases}, open(sys.argv[1], 'w'))
print(len(cases), sum(len(c["queries"]) for c in cases))
