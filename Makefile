# One venv per checkout; every target installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: install register test test-fast fuzz demo bench bench-quick peers clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip "setuptools<82" wheel

$(STAMP): $(PY) setup.cfg pyproject.toml
	$(PY) -m pip install --quiet -e ".[test,examples]"
	touch $(STAMP)

install: $(STAMP)

register: install
	$(VENV)/bin/hyperjump-register

test: register peers
	sh tests/remote/ensure_sshd.sh
	$(PY) -m pytest -q -ra

test-fast: install
	$(PY) -m pytest -q -ra -m "not e2e and not slow"

# Protocol fuzz campaign (tests/protocol_machine.py): counts failures by kind; exits 1 if any.
fuzz: install
	$(PY) benchmarks/fuzz_protocol.py --sequences 2000

demo: register
	$(PY) examples/mnist-hyperjump/run_demo.py

# Peer advisors' environments (Syne Tune 0.13, Optuna + DEHB), outside the repo; kept when up to date.
# make test runs one short replay per peer (tests/test_peers.py), so it installs them too.
peers: install
	$(PY) -m hyperjump_advisor.replay --setup-peers

bench: register peers
	$(PY) -m pip install --quiet -e ".[bench]"
	mkdir -p bench-results
	$(PY) benchmarks/bench_model.py | tee bench-results/model.md
	$(PY) benchmarks/bench_decision.py | tee bench-results/decision.md
	$(PY) benchmarks/run_bench.py --jobs 2 --out bench-results/standard
	$(PY) benchmarks/run_bench.py --jobs 2 --out bench-results/ablation --workers 1 8 \
	    --advisors hyperjump hyperjump-no-jump hyperjump-no-order hyperjump-no-warmstart \
	    hyperjump-no-resume hyperjump-rank1 hyperband

# A few minutes: HyperJump against the fast peers on one table, 8 workers, 2 seeds.
# (syne-mobster and syne-hypertune fit a GP per decision: add them for a longer run.)
bench-quick: register peers
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) -m hyperjump_advisor.replay --table hyperjump:mnist_epochs --workers 8 --seeds 2 --quiet \
	    --advisor hyperjump --advisor syne-asha --advisor syne-asha-stop --advisor syne-hyperband \
	    --advisor syne-bohb --advisor dehb --advisor optuna-hyperband --out bench-results/quick

clean:
	rm -rf $(VENV) bench-results
