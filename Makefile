# One venv per checkout; every target installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: install register test test-fast typecheck fuzz demo bench bench-quick peers golden clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip "setuptools<82" wheel

$(STAMP): $(PY) setup.cfg pyproject.toml constraints.txt
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test,examples]"
	touch $(STAMP)

install: $(STAMP)

register: install
	$(VENV)/bin/hyperjump-register

test: register peers
	sh tests/remote/ensure_sshd.sh
	$(PY) -m pytest -q -ra

# The pure modules (search space, schedule, model, risk and their seams) are typed strictly; the package, plainly.
PURE = hyperjump_advisor/searchspace.py hyperjump_advisor/schedule.py hyperjump_advisor/model \
       hyperjump_advisor/risk hyperjump_advisor/posterior.py hyperjump_advisor/jumping.py hyperjump_advisor/metrics.py \
       hyperjump_advisor/async_schedule \
       hyperjump_advisor/diagnostics.py hyperjump_advisor/diagnostics_feed.py \
       hyperjump_advisor/ties.py hyperjump_advisor/neighbours.py
typecheck: install
	$(PY) -m mypy hyperjump_advisor
	$(PY) -m mypy --strict --follow-imports=silent $(PURE)

test-fast: install
	$(PY) -m pytest -q -ra -m "not e2e and not slow"

# Re-record the golden command traces (tests/golden/) after a change of behaviour made on purpose.
golden: install
	$(PY) tests/golden_traces.py

demo: register
	$(PY) examples/mnist-hyperjump/run_demo.py

# Peer advisors' environments (Syne Tune 0.13, Optuna + DEHB), outside the repo; kept when up to date.
# make test runs one short replay per peer (tests/test_peers.py), so it installs them too.
peers: install
	$(PY) -m hyperjump_advisor.replay --setup-peers

# The standard suite: 4 shared tables x {1, 8, 32} workers x every advisor, 20 seeds (the GP peers 5),
# the ablation suite, and the cost tables (model, decision, small operations, scale). See README, "Benchmarks".
bench: register peers
	$(PY) -m pip install --quiet -c constraints.txt -e ".[bench]"
	mkdir -p bench-results
	$(PY) benchmarks/bench_model.py | tee bench-results/model.md
	$(PY) benchmarks/bench_decision.py | tee bench-results/decision.md
	$(PY) benchmarks/bench_small_costs.py | tee bench-results/small-costs.md
	$(PY) benchmarks/bench_scale.py --trials 20000 | tee bench-results/scale.md
	$(PY) benchmarks/bench_scale.py --trials 3000 --compare-persistence | tee bench-results/persistence.md
	$(PY) benchmarks/run_bench.py --jobs 2 --out bench-results/standard --seeds 20 \
	    --seeds-for 'syne-mobster=5' --seeds-for 'syne-hypertune=5' --checkpoint-seeds 1 \
	    --readme-table bench-results/README-table.md
	$(PY) benchmarks/run_bench.py --jobs 2 --out bench-results/ablation --workers 1 8 --seeds 10 --checkpoint-seeds 0 \
	    --advisors hyperjump hyperjump-sync hyperjump-async1 hyperjump-async-trusting hyperjump-no-jump \
	    hyperjump-no-warmstart hyperjump-no-resume hyperband

# A few minutes: two tables, 5 seeds, HyperJump against the peers that do not fit a GP per decision.
bench-quick: register peers
	$(PY) -m pip install --quiet -c constraints.txt -e ".[bench]"
	$(PY) benchmarks/run_bench.py --quick --jobs 2 --out bench-results/quick \
	    --advisors hyperjump hyperband random syne-asha syne-asha-stop syne-hyperband syne-bohb dehb optuna-hyperband

# The protocol state machine at length: 2,000 sequences of NNI commands with faults, counts printed.
fuzz: install
	$(PY) benchmarks/fuzz_protocol.py --sequences 2000

clean:
	rm -rf $(VENV) bench-results
