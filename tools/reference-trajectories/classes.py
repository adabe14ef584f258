import json, itertools
cases = []
def add(prefix, kind, config, steps, **kw):
    n = sum(1 for c in cases if c['name'].startswith(prefix + '-' + kind + '-')) + 1
    c = {'name': f'{prefix}-{kind}-{n:03d}', 'scheduler': kind, 'config': config, 'num_inference_steps': steps, 'shape': [1, 2, 1, 3], 'seed': len(cases)}
    c.update(kw); cases.append(c)
# A: noise prediction with sample/v models, Karras, 1000/2000 steps
for T, steps, pred, solver in [(2000, 3, 'sample', 'midpoint'), (2000, 5, 'sample', 'heun'), (1000, 4, 'v_prediction', 'midpoint'), (2000, 8, 'epsilon', 'heun'), (500, 3, 'sample', 'midpoint')]:
    add('f', 'dpm_solver', {'num_train_timesteps': T, 'prediction_type': pred, 'algorithm_type': 'dpmsolver', 'solver_type': solver, 'use_karras_sigmas': True, 'final_sigmas_type': 'sigma_min'}, steps)
# B: 2000 training steps, many steps, each spacing
for spacing, steps, order, algo in [('trailing', 30, 2, 'dpmsolver++'), ('linspace', 25, 3, 'dpmsolver++'), ('leading', 40, 2, 'sde-dpmsolver++'), ('trailing', 50, 3, 'dpmsolver++')]:
    add('f', 'dpm_solver', {'num_train_timesteps': 2000, 'timestep_spacing': spacing, 'solver_order': order, 'algorithm_type': algo}, steps)
# C: SDE with exponential / beta sigmas on the cosine schedule
for sig, spacing, steps in [('use_exponential_sigmas', 'leading', 10), ('use_exponential_sigmas', 'trailing', 7), ('use_beta_sigmas', 'leading', 12)]:
    add('f', 'dpm_solver', {'algorithm_type': 'sde-dpmsolver++', sig: True, 'beta_schedule': 'squaredcos_cap_v2', 'timestep_spacing': spacing}, steps)
# D: Karras rounding (cosine truncates)
for T, steps, order in [(200, 10, 3), (500, 12, 2), (1000, 9, 3)]:
    add('f', 'dpm_solver', {'num_train_timesteps': T, 'beta_schedule': 'squaredcos_cap_v2', 'timestep_spacing': 'trailing', 'algorithm_type': 'sde-dpmsolver++', 'solver_order': order, 'use_karras_sigmas': True}, steps)
for T, steps in [(200, 15), (1000, 25)]:
    add('f', 'dpm_solver', {'num_train_timesteps': T, 'beta_schedule': 'scaled_linear', 'beta_start': 0.00085, 'beta_end': 0.012, 'use_karras_sigmas': True, 'solver_order': 3}, steps)
# E: Lu's lambdas
for T, sched, steps, algo in [(1000, 'linear', 10, 'dpmsolver++'), (1000, 'squaredcos_cap_v2', 8, 'dpmsolver++'), (500, 'scaled_linear', 12, 'sde-dpmsolver++'), (2000, 'linear', 6, 'dpmsolver++')]:
    add('f', 'dpm_solver', {'num_train_timesteps': T, 'beta_schedule': sched, 'use_lu_lambdas': True, 'solver_order': 3 if algo == 'dpmsolver++' else 2, 'algorithm_type': algo}, steps)
# single-step SDE with beta sigmas
for T, solver, steps in [(1000, 'heun', 8), (2000, 'midpoint', 9), (1000, 'midpoint', 6), (2000, 'heun', 10)]:
    add('f', 'dpm_solver_singlestep', {'num_train_timesteps': T, 'algorithm_type': 'sde-dpmsolver++', 'solver_type': solver, 'use_beta_sigmas': True}, steps)
for T, steps in [(2000, 20), (1000, 7)]:
    add('f', 'dpm_solver_singlestep', {'num_train_timesteps': T, 'algorithm_type': 'dpmsolver++', 'solver_order': 3, 'use_karras_sigmas': True}, steps)
# DEIS: sample prediction, Karras, cosine, leading, order 1 (and near variants)
for T, steps, order, sched in [(1000, 10, 1, 'squaredcos_cap_v2'), (1000, 20, 1, 'squaredcos_cap_v2'), (2000, 12, 2, 'linear'), (500, 15, 3, 'squaredcos_cap_v2')]:
    add('f', 'deis', {'num_train_timesteps': T, 'prediction_type': 'sample', 'use_karras_sigmas': True, 'beta_schedule': sched, 'timestep_spacing': 'leading', 'solver_order': order}, steps)
# UniPC: bh1, order 3, sample prediction, Karras, corrector disabled
for T, steps, dis in [(1000, 10, [0, 1, 2]), (1000, 15, [3, 4]), (2000, 8, [0]), (500, 12, [1, 2, 3, 4, 5])]:
    add('f', 'unipc', {'num_train_timesteps': T, 'solver_type': 'bh1', 'solver_order': 3, 'prediction_type': 'sample', 'use_karras_sigmas': True, 'disable_corrector': dis, 'final_sigmas_type': 'sigma_min'}, steps)
json.dump(cases, open('cases3.json', 'w'), indent=0)
print(len(cases))
