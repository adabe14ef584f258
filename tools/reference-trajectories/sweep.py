"""Random scheduler configurations (seeded) for a parity sweep: python3 sweep.py SEED KINDS COUNT -> fuzzSEED.json."""
import json, random, sys
seed = int(sys.argv[1]); random.seed(seed)
kinds = sys.argv[2].split(',')
cases = []
for i in range(int(sys.argv[3])):
    kind = random.choice(kinds)
    T = random.choice([200, 500, 1000, 1000, 2000])
    sched = random.choice(['linear', 'scaled_linear', 'squaredcos_cap_v2'])
    cfg = {'num_train_timesteps': T, 'beta_schedule': sched, 'prediction_type': random.choice(['epsilon', 'sample', 'v_prediction'])}
    if sched == 'scaled_linear': cfg.update(beta_start=0.00085, beta_end=0.012)
    elif kind in ('lcm', 'tcd'): cfg.update(beta_start=random.choice([0.0001, 0.00085]), beta_end=random.choice([0.012, 0.02]))
    if kind in ('deis', 'unipc', 'dpm_solver', 'dpm_solver_singlestep'):
        sig = random.choice([None, None, 'use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas'])
        if sig: cfg[sig] = True
        cfg['solver_order'] = random.choice([1, 2, 3])
        cfg['lower_order_final'] = random.random() < 0.8
    if kind == 'sa_solver':
        cfg['predictor_order'], cfg['corrector_order'] = random.randint(1, 4), random.randint(1, 4)
        cfg['algorithm_type'] = random.choice(['data_prediction', 'noise_prediction'])
        sig = random.choice([None, None, 'use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas', 'use_flow_sigmas'])
        if sig == 'use_flow_sigmas':
            cfg.update(use_flow_sigmas=True, flow_shift=random.choice([0.5, 1.0, 3.0]), prediction_type='flow_prediction', algorithm_type='data_prediction')
        elif sig: cfg[sig] = True
        elif sched == 'squaredcos_cap_v2' and random.random() < 0.5: cfg['lambda_min_clipped'] = -5.1
        cfg['lower_order_final'] = random.random() < 0.75
        if cfg['algorithm_type'] == 'data_prediction' and random.random() < 0.25:
            cfg.update(thresholding=True, dynamic_thresholding_ratio=0.9, sample_max_value=1.5)
    if kind != 'dpm_solver_singlestep': cfg['timestep_spacing'] = random.choice(['linspace', 'leading', 'trailing'])
    if random.random() < 0.3: cfg['steps_offset'] = 1
    if kind == 'unipc':
        cfg['solver_type'] = random.choice(['bh1', 'bh2'])
        if random.random() < 0.5: cfg['disable_corrector'] = sorted(random.sample(range(8), 3))
        cfg['predict_x0'] = random.choice([True, True, False])
        cfg['final_sigmas_type'] = random.choice(['sigma_min', 'zero']) if cfg['predict_x0'] else 'sigma_min'
        if cfg['final_sigmas_type'] == 'zero' and cfg['solver_order'] > 1: cfg['lower_order_final'] = True
    if kind in ('ddim',):
        cfg['set_alpha_to_one'] = random.choice([True, False])
        cfg['clip_sample'] = random.choice([True, False])
    if kind in ('ddpm',):
        cfg['variance_type'] = random.choice(['fixed_small', 'fixed_small_log', 'fixed_large', 'fixed_large_log'])
        cfg['clip_sample'] = random.choice([True, False])
    if kind in ('pndm',):
        cfg['skip_prk_steps'] = random.choice([True, False])
        cfg['set_alpha_to_one'] = random.choice([True, False])
    if kind in ('lcm', 'tcd'):
        cfg['original_inference_steps'] = random.choice([50, 50, 20])
        cfg['clip_sample'] = random.choice([True, False])
    steps = random.choice([3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30])
    if kind in ('lcm', 'tcd'): steps = random.choice([1, 2, 4, 6, 8])
    c = {'name': f's{seed}-{kind}-{i:03d}', 'scheduler': kind, 'config': cfg, 'num_inference_steps': steps, 'shape': [1, 1, 2, 3], 'seed': i}
    if kind == 'ddim': c['eta'] = random.choice([0, 0, 0.5])
    if kind == 'tcd': c['step_kwargs'] = {'eta': random.choice([0.3, 0.0, 0.7])}
    cases.append(c)
json.dump(cases, open(f'fuzz{seed}.json', 'w'))
