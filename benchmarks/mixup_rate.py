"""Measure the NNI issue 5726 mix-up rate: one quickstart experiment with HyperJump loaded from CODE_DIR.

Usage: python benchmarks/mixup_rate.py CODE_DIR PORT LABEL [TRIALS=40] [CONCURRENCY=4] [EXTRA_CLASS_ARGS_JSON]
Prints one JSON line (records with a FINAL metric, how many list another parameter id, rate) and
writes /tmp/nni-facts/LABEL.json with every record. See docs/nni-facts.md.
"""
import json, sys, time, requests
from pathlib import Path
from nni.experiment import Experiment, ExperimentConfig, CustomAlgorithmConfig

code_dir, port, label = sys.argv[1], int(sys.argv[2]), sys.argv[3]
trials = int(sys.argv[4]) if len(sys.argv) > 4 else 40
conc = int(sys.argv[5]) if len(sys.argv) > 5 else 4
extra = json.loads(sys.argv[6]) if len(sys.argv) > 6 else {}
QS = Path(__file__).resolve().parents[1] / 'examples' / 'quickstart'
cfg = ExperimentConfig('local')
cfg.experiment_name = f'mixup-{label}'
cfg.search_space = {"alpha": {"_type": "loguniform", "_value": [1e-6, 1e-1]},
                    "eta0": {"_type": "loguniform", "_value": [1e-4, 1.0]}}
cfg.trial_command = f'{sys.executable} trial.py'
cfg.trial_code_directory = str(QS)
cfg.trial_concurrency = conc
cfg.max_trial_number = trials
cfg.max_experiment_duration = '8m'
cfg.experiment_working_directory = '/tmp/nni-exp'
cfg.advisor = CustomAlgorithmConfig(class_name='hyperjump_advisor.HyperJump', code_directory=code_dir,
                            class_args={'R': 9, 'eta': 3, 'optimize_mode': 'maximize', 'seed': 1, **extra})
for attempt in range(5):  # NNI 3.0's launcher fails on a slow start ('INITIALIZING' is not JSON): retry
    exp = Experiment(cfg)
    try:
        exp.start(port)
        break
    except Exception as error:
        print('start failed, retrying:', error, flush=True)
        try:
            exp.stop()
        except Exception:
            pass
        port += 100
        time.sleep(3)
base = f'http://127.0.0.1:{port}/api/v1/nni'
t0 = time.time()
try:
    while True:
        st = requests.get(base + '/check-status').json()
        if st['status'] in ('DONE', 'ERROR', 'STOPPED') or time.time() - t0 > 480:
            break
        time.sleep(3)
    jobs = requests.get(base + '/trial-jobs').json()
    metrics = requests.get(base + '/metric-data').json()
finally:
    exp.stop()
final = {}
for m in metrics:
    if m['type'] == 'FINAL':
        final[m['trialJobId']] = m['parameterId']
rows = []
for j in jobs:
    hp = j.get('hyperParameters') or []
    listed = json.loads(hp[0])['parameter_id'] if hp else None
    rows.append(dict(id=j['trialJobId'], seq=j.get('sequenceId'), status=j['status'], listed=listed,
                     final=final.get(j['trialJobId']), submit=j.get('submitTime'), start=j.get('startTime')))
fin = [r for r in rows if r['final'] is not None]
mixed = [r for r in fin if str(r['final']) != str(r['listed'])]
out = dict(label=label, extra=extra, exp=exp.id, status=st['status'], seconds=round(time.time() - t0),
           jobs=len(rows), with_final=len(fin), mixed=len(mixed), rate=round(len(mixed) / max(len(fin), 1), 3),
           rows=rows)
Path('/tmp/nni-facts').mkdir(exist_ok=True)
(Path('/tmp/nni-facts') / f'{label}.json').write_text(json.dumps(out, indent=1))
print(json.dumps({k: v for k, v in out.items() if k != 'rows'}))
