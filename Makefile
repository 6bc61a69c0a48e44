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
       hyperjump_advisor/ties.py hyperjump_advisor/neighbours.py hyperjump_advisor/rung_folds.py \
       hyperjump_advisor/bracket_allocation.py hyperjump_advisor/bracket_value.py
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

# The standard suite (README, Benchmarks; estimated 80-85 min on the 2-core machine when it is otherwise idle,
# from measured per-chunk CPU times, see benchmarks/run_bench.py): the five real tables (the four shared ones and
# LCBench 189908) at 1, 8 and 32 workers and the seven synthetic members at 8 workers, every advisor, 8 seeds;
# MOBSTER and Hyper-Tune 5 seeds on mnist_epochs and cnn at 8 workers only; the ablations (overrides of hyperjump)
# on four synthetic members at 8 workers, 4 seeds; and the cost tables (model, decision, small operations, scale, persistence).
GP_CELLS = --seeds-for 'syne-mobster=0' --seeds-for 'syne-hypertune=0' \
           --seeds-for 'syne-mobster=5@mnist_epochs-w8' --seeds-for 'syne-hypertune=5@mnist_epochs-w8' \
           --seeds-for 'syne-mobster=5@cnn-w8' --seeds-for 'syne-hypertune=5@cnn-w8'
ABLATIONS = hyperjump 'hyperjump:exec_mode=parallelism' 'hyperjump:several_brackets=false' \
            'hyperjump:explain_jumps=false' 'hyperjump:threshold=0' 'hyperjump:random_fraction=1' \
            'hyperjump:pause_resume=false,opportunistic=false' 'hyperjump:local_search=0' hyperband
bench: register peers
	$(PY) -m pip install --quiet -c constraints.txt -e ".[bench]"
	mkdir -p bench-results
	$(PY) benchmarks/bench_model.py | tee bench-results/model.md
	$(PY) benchmarks/bench_decision.py | tee bench-results/decision.md
	$(PY) benchmarks/bench_small_costs.py | tee bench-results/small-costs.md
	$(PY) benchmarks/bench_scale.py --trials 20000 | tee bench-results/scale.md
	$(PY) benchmarks/bench_scale.py --trials 3000 --compare-persistence | tee bench-results/persistence.md
	$(PY) benchmarks/run_bench.py --jobs 2 --out bench-results/standard --seeds 8 --checkpoint-seeds 0 \
	    --workers-for 'synthetic:*=8' $(GP_CELLS) --readme-table bench-results/README-table.md
	$(PY) benchmarks/run_bench.py --jobs 2 --out bench-results/ablation --workers 8 --seeds 4 --checkpoint-seeds 0 \
	    --tables synthetic:smooth synthetic:uninformative-low synthetic:needle synthetic:late-bloomers \
	    --advisors $(ABLATIONS)

# 5 min 50 s measured (README): three tables (mnist_epochs, cnn, synthetic:needle) at 8 workers,
# 5 seeds, HyperJump against the peers that do not fit a GP per decision.
bench-quick: register peers
	$(PY) -m pip install --quiet -c constraints.txt -e ".[bench]"
	$(PY) benchmarks/run_bench.py --quick --jobs 2 --out bench-results/quick \
	    --advisors hyperjump hyperband random syne-asha syne-asha-stop syne-hyperband syne-bohb dehb optuna-hyperband

# The protocol state machine at length: 2,000 sequences of NNI commands with faults, counts printed.
fuzz: install
	$(PY) benchmarks/fuzz_protocol.py --sequences 2000

clean:
	rm -rf $(VENV) bench-results
