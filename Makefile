# The README's two commands: `make demo` and `make test`. Each sets up .venv on a fresh machine
# (pinning torch==2.13.0 only when no torch is importable) and re-runs in seconds once set up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-stamp
PYTEST_ARGS ?= -m "not slow"
BENCH_TARGETS := bench-fit-published bench-published bench-oracle bench-scenarios bench-sparsity-inputs bench-sparsity \
                 bench-sparsity-cold \
                 bench-host-quick bench-calibration bench-sim-to-real bench-replay-first bench-predictor \
                 bench-scheduling bench-hw-predict bench-env-speed bench-engine bench-readme-tables bench-readme

.PHONY: setup demo test test-all workloads bench bench-check clean $(BENCH_TARGETS)

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || { echo "installing torch==2.13.0 (CPU build)"; $(PY) -m pip install -q "torch==2.13.0"; }
	$(PY) -m pip install -q -e ".[dev,ray]"
	@touch $(STAMP)

demo: setup
	$(VENV)/bin/sparoa demo $(DEMO_ARGS)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test-all: setup
	$(PY) -m pytest

# Regenerate the shipped workload graphs from the model zoo (needs torch; takes a few minutes).
workloads: setup
	$(PY) -m sparoa_sim.real.models.regenerate

# `make bench`: regenerate the committed results behind the README's figures (benchmarks/results/*.json),
# each script with the options of its committed run, then run every README command in its full form
# (SPAROA_README_FULL=1 tests/test_readme_commands.py). Hours on a 2-core machine; run it without -j
# (sim-to-real uses the host profile the calibration stores). One script: `make bench-oracle`, ...
bench: $(BENCH_TARGETS)

# After `make bench` (or one bench-NAME): each result file against its committed version, within the noise
# it is held to (exact for computations, ±25 % for timings on this VM; benchmarks/reproduce.py).
bench-check: setup
	$(PY) benchmarks/reproduce.py

bench-fit-published: setup
	$(PY) benchmarks/fit_published_overheads.py
bench-published: setup
	$(PY) benchmarks/published.py
bench-oracle: setup
	$(PY) benchmarks/oracle.py --loads 0,0.5,0.8 --time-limit 59 --num-workers 2 --subsolvers objective_lb_search \
	    --search-evals 10000 --chain-bound
# The committed file: four scenarios at 20 s of CPU time per training seed, four at 40 s (the branchy and
# stochastic ones), merged (about 1 to 1.5 h on 2 cores; CPU time: a busy host trains each seed as long).
bench-scenarios: setup
	$(PY) benchmarks/scenarios.py --workers 2 --scenarios idle,gpu-shared-moderate,gpu-shared-heavy,camera-30fps \
	    --learn-budget 20 --budget-clock cpu --oracle-time-limit 30 -o runs/bench-scenarios-a --resume-dir runs/bench-scenarios-a
	$(PY) benchmarks/scenarios.py --workers 2 --scenarios gpu-shared-varying,bursts,clients-8,detector-classifier \
	    --learn-budget 40 --budget-clock cpu --oracle-time-limit 30 -o runs/bench-scenarios-b --resume-dir runs/bench-scenarios-b
	$(PY) benchmarks/scenarios.py --merge runs/bench-scenarios-a/scenarios.json runs/bench-scenarios-b/scenarios.json
bench-sparsity: setup
	$(PY) benchmarks/sparsity.py --repeats 3 --save-sweep benchmarks/results/sparsity_sweep.json
# The sparsity evidence's inputs (cache-cold sweeps, VGG-16 sweeps, measured graph, executor check; ~1 h).
bench-sparsity-inputs: setup
	$(PY) benchmarks/sparsity_inputs.py sweeps --cold-out benchmarks/results/sparsity_sweep_cold.json \
	    --vgg-out benchmarks/results/sparsity_sweep_vgg.json --vgg-warm-out benchmarks/results/sparsity_sweep_vgg_warm.json
	$(PY) benchmarks/sparsity_inputs.py validate --graph-out benchmarks/results/sparsity_vgg16_measured_graph.json \
	    --out benchmarks/results/sparsity_validation.json
	$(PY) benchmarks/sparsity_inputs.py validate-cli --batch 8 --out benchmarks/results/sparsity_validate_cli.json
bench-sparsity-cold: setup
	$(PY) benchmarks/sparsity.py --sweep benchmarks/results/sparsity_sweep_cold.1.json \
	    benchmarks/results/sparsity_sweep_cold.2.json benchmarks/results/sparsity_sweep_cold.3.json \
	    --json-out benchmarks/results/sparsity_cold.json
bench-host-quick: setup
	$(PY) benchmarks/host_quick_calibration.py --runs 3
bench-calibration: setup
	$(PY) benchmarks/calibration.py --out-tables benchmarks/results/calibration_tables
bench-sim-to-real: setup
	$(PY) benchmarks/sim_to_real.py --tables benchmarks/results/calibration_tables --reps 4
bench-replay-first: setup
	$(PY) benchmarks/replay_first_request.py --runs 3 --requests 20
bench-predictor: setup
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) benchmarks/predictor.py --models mlp
bench-scheduling: setup
	$(PY) benchmarks/scheduling.py
bench-hw-predict: setup
	$(PY) benchmarks/hw_predict.py
bench-env-speed: setup
	$(PY) benchmarks/env_speed.py --steps 10000 --rounds 45 --clock cpu
bench-engine: setup
	$(PY) benchmarks/engine.py --clock cpu --repeat 15
bench-readme-tables: setup
	$(PY) -m sparoa_sim.agents.experiments.readme_tables --write README.md
bench-readme: setup
	SPAROA_README_FULL=1 $(PY) -m pytest tests/test_readme_commands.py -p no:cacheprovider

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis
