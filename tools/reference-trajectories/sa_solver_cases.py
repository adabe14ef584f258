"""SA-Solver configurations the bundled g3 files leave out (orders that differ, noise prediction with sample/v models,
200 training steps where tau is 0, lambda_min_clipped, every sigma spacing, flow sigmas, thresholding, long runs):
python3 sa_solver_cases.py -> cases_sa_solver.json, then python3 record.py cases_sa_solver.json out/ (the f-sa_solver-* files)."""
import json
cases = []
def add(config, steps, shape=[1, 2, 1, 3]):
    n = len(cases) + 1
    cases.append({'name': f'f-sa_solver-{n:03d}', 'scheduler': 'sa_solver', 'config': config, 'num_inference_steps': steps, 'shape': shape, 'seed': 100 + n})
# predictor and corrector orders that differ
add({'predictor_order': 3, 'corrector_order': 1}, 12)
add({'predictor_order': 1, 'corrector_order': 4, 'prediction_type': 'v_prediction', 'beta_schedule': 'scaled_linear', 'beta_start': 0.00085, 'beta_end': 0.012}, 10)
add({'predictor_order': 4, 'corrector_order': 2, 'timestep_spacing': 'trailing'}, 16)
# noise prediction with v and sample models
add({'algorithm_type': 'noise_prediction', 'prediction_type': 'v_prediction', 'predictor_order': 2, 'corrector_order': 3}, 15)
add({'algorithm_type': 'noise_prediction', 'prediction_type': 'sample', 'predictor_order': 4, 'corrector_order': 4, 'timestep_spacing': 'trailing'}, 20)
# 200 training steps: tau is 0 at every step (the ODE)
add({'num_train_timesteps': 200, 'predictor_order': 3, 'corrector_order': 3}, 8)
add({'num_train_timesteps': 200, 'algorithm_type': 'noise_prediction', 'timestep_spacing': 'leading', 'steps_offset': 1}, 9)
# lambda_min_clipped on the cosine schedule
add({'beta_schedule': 'squaredcos_cap_v2', 'lambda_min_clipped': -5.1, 'predictor_order': 3, 'corrector_order': 3}, 10)
add({'beta_schedule': 'squaredcos_cap_v2', 'lambda_min_clipped': -5.1, 'timestep_spacing': 'trailing'}, 7)
# sigma spacings
add({'use_karras_sigmas': True, 'predictor_order': 3, 'corrector_order': 3, 'num_train_timesteps': 2000}, 8)
add({'use_exponential_sigmas': True, 'algorithm_type': 'noise_prediction', 'prediction_type': 'epsilon'}, 7)
add({'use_beta_sigmas': True, 'predictor_order': 3, 'corrector_order': 4, 'beta_schedule': 'scaled_linear', 'beta_start': 0.00085, 'beta_end': 0.012}, 9)
# flow sigmas with a shift and another training-step count
add({'use_flow_sigmas': True, 'flow_shift': 3.0, 'prediction_type': 'flow_prediction', 'num_train_timesteps': 2000, 'predictor_order': 3, 'corrector_order': 2}, 12)
# thresholding with two batch items, lower_order_final off
add({'thresholding': True, 'dynamic_thresholding_ratio': 0.8, 'sample_max_value': 1.2, 'lower_order_final': False, 'predictor_order': 3, 'corrector_order': 3}, 9, [2, 2, 2, 2])
# long runs: 2000 and 500 training steps
add({'num_train_timesteps': 2000, 'timestep_spacing': 'leading', 'steps_offset': 1}, 40)
add({'num_train_timesteps': 500, 'timestep_spacing': 'trailing', 'predictor_order': 2, 'corrector_order': 4, 'prediction_type': 'v_prediction'}, 25)
json.dump(cases, open('cases_sa_solver.json', 'w'), indent=0)
print(len(cases))
