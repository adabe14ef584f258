"""Records reference trajectories in the format of shared/reference/schedulers for generated configurations."""
import sys, json, math
sys.path.insert(0, '/tmp/f32py')
import numpy as np, torch
from diffusers.schedulers import (scheduling_ddpm, scheduling_dpmsolver_multistep, scheduling_dpmsolver_singlestep,
    scheduling_deis_multistep, scheduling_unipc_multistep, scheduling_euler_discrete, scheduling_euler_ancestral_discrete,
    scheduling_k_dpm_2_ancestral_discrete, scheduling_k_dpm_2_discrete, scheduling_heun_discrete, scheduling_lms_discrete,
    scheduling_lcm, scheduling_tcd, scheduling_ddim, scheduling_pndm, scheduling_sasolver)
CLASSES = {
    'ddpm': scheduling_ddpm.DDPMScheduler, 'ddim': scheduling_ddim.DDIMScheduler, 'pndm': scheduling_pndm.PNDMScheduler,
    'dpm_solver': scheduling_dpmsolver_multistep.DPMSolverMultistepScheduler,
    'dpm_solver_singlestep': scheduling_dpmsolver_singlestep.DPMSolverSinglestepScheduler,
    'deis': scheduling_deis_multistep.DEISMultistepScheduler, 'unipc': scheduling_unipc_multistep.UniPCMultistepScheduler,
    'euler': scheduling_euler_discrete.EulerDiscreteScheduler, 'euler_ancestral': scheduling_euler_ancestral_discrete.EulerAncestralDiscreteScheduler,
    'kdpm2_ancestral': scheduling_k_dpm_2_ancestral_discrete.KDPM2AncestralDiscreteScheduler,
    'kdpm2': scheduling_k_dpm_2_discrete.KDPM2DiscreteScheduler, 'heun': scheduling_heun_discrete.HeunDiscreteScheduler,
    'lms': scheduling_lms_discrete.LMSDiscreteScheduler, 'lcm': scheduling_lcm.LCMScheduler, 'tcd': scheduling_tcd.TCDScheduler,
    'sa_solver': scheduling_sasolver.SASolverScheduler,
}
NO_SIGMAS = {'ddpm', 'ddim', 'pndm', 'lcm', 'tcd'}

def f32(a):
    return [float('%.9g' % v) if math.isfinite(v) else None for v in a.detach().to(torch.float32).flatten().tolist()]

def model(x, t, k):
    # A bounded, made-up network output that depends on the input, the timestep and the step.
    tt = float(t) / 1000.0
    return torch.tanh(0.7 * x + 0.3 * torch.sin(3.0 * x + tt + 0.1 * k)) * (0.8 + 0.2 * tt)

def record(case):
    kind = case['scheduler']
    cls = CLASSES[kind]
    sched = cls(**case['config'])
    st = case.get('set_timesteps') or {}
    if 'timesteps' in st or 'sigmas' in st:
        kw = {k: (np.array(v, dtype=np.float64) if k == 'sigmas' else v) for k, v in st.items()}
        sched.set_timesteps(**kw)
    elif st:
        sched.set_timesteps(case['num_inference_steps'], **st)
    else:
        sched.set_timesteps(case['num_inference_steps'])
    shape = case.get('shape', [2, 1, 2, 3])
    gen = torch.Generator().manual_seed(case.get('seed', 0))
    sample = torch.randn(shape, generator=gen) * sched.init_noise_sigma
    out = {'format': 1, 'source': 'diffusers ' + cls.__name__ + ' (generated)', 'scheduler': kind, 'config': case['config'],
           'num_inference_steps': len(sched.timesteps) if ('timesteps' in st or 'sigmas' in st) else case['num_inference_steps']}
    if st: out['set_timesteps'] = st
    if case.get('step_kwargs'): out['step_kwargs'] = case['step_kwargs']
    if kind == 'ddim' and case.get('eta'): out['eta'] = case['eta']
    out['timesteps'] = [float(t) for t in sched.timesteps.to(torch.float32).tolist()] if sched.timesteps.dtype.is_floating_point else [float(t) for t in sched.timesteps.tolist()]
    if kind not in NO_SIGMAS:
        out['sigmas'] = f32(torch.as_tensor(sched.sigmas))
    out['init_noise_sigma'] = float(sched.init_noise_sigma)
    out['shape'] = shape
    out['sample'] = f32(sample)
    steps = []
    noise_gen = torch.Generator().manual_seed(case.get('seed', 0) + 1)
    for k, t in enumerate(sched.timesteps):
        x_in = sched.scale_model_input(sample, t)
        mo = model(x_in, t, k)
        drawn = []
        orig = torch.randn
        def tracking_randn(*a, **kw):
            kw['generator'] = noise_gen
            r = orig(*a, **kw); drawn.append(r.clone()); return r
        import diffusers.utils.torch_utils as tu
        def rt(shape, generator=None, device=None, dtype=None, layout=None):
            return tracking_randn(shape, dtype=dtype)
        for mod in (scheduling_ddpm, scheduling_dpmsolver_multistep, scheduling_dpmsolver_singlestep, scheduling_euler_ancestral_discrete,
                    scheduling_k_dpm_2_ancestral_discrete, scheduling_lcm, scheduling_tcd, scheduling_unipc_multistep, scheduling_euler_discrete,
                    scheduling_ddim, scheduling_sasolver):
            if hasattr(mod, 'randn_tensor'): mod.randn_tensor = rt
        kwargs = dict(case.get('step_kwargs') or {})
        if kind == 'ddim' and case.get('eta'): kwargs['eta'] = case['eta']
        res = sched.step(mo, t, sample, **kwargs)
        entry = {'t': float(t), 'model_input': f32(x_in), 'model_output': f32(mo),
                 'noise': (f32(drawn[0]) if len(drawn) == 1 else None), 'prev_sample': f32(res.prev_sample)}
        assert len(drawn) <= 1
        if getattr(res, 'pred_original_sample', None) is not None: entry['pred_original_sample'] = f32(res.pred_original_sample)
        if getattr(res, 'denoised', None) is not None: entry['denoised'] = f32(res.denoised)
        steps.append(entry)
        sample = res.prev_sample
    out['steps'] = steps
    return out

if __name__ == '__main__':
    cases = json.load(open(sys.argv[1]))
    outdir = sys.argv[2]
    import os
    os.makedirs(outdir, exist_ok=True)
    for case in cases:
        try:
            r = record(case)
        except Exception as e:
            print('FAILED', case['name'], repr(e)); continue
        bad = any(v is None for s in r['steps'] for v in s['prev_sample'])
        if bad: print('NONFINITE', case['name']); continue
        json.dump(r, open(os.path.join(outdir, case['name'] + '.json'), 'w'), separators=(',', ':'))
        print('ok', case['name'], len(r['steps']))
