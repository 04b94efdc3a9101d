# The two commands a new user types on a fresh Debian 12 machine:
#   make demo   set everything up, build the module and run it in the lab
#   make test   set everything up and run the whole test suite (what CI runs)
# Both are idempotent: a second run skips what is already installed, fetched or built.

PTNET := .venv/bin/ptnet
PY := .venv/bin/python
# The newest Debian kernel we reach, 7.x, named by its series so that a new 7.y is picked up
# (its modules build in a trixie chroot; see README).
KERNEL_7X := trixie-backports

.PHONY: demo test setup passthrough lint

setup:
	./scripts/bootstrap.sh
	$(PTNET) setup
	$(PTNET) build modules --kernel 6.1
	$(PTNET) build modules --kernel 6.12
	$(PTNET) build modules --kernel $(KERNEL_7X)
	$(PTNET) build tools

demo: setup
	$(PTNET) doctor
	$(PTNET) lab run --smp 2 --modules netmap -- sh scripts/demo-guest.sh

lint:
	$(PY) -m ruff check ptnet tests
	$(PY) -m ruff format --check ptnet tests

# What the passthrough tests need besides the lab: our patched QEMU and the default guest image.
passthrough: setup
	$(PTNET) build qemu
	$(PTNET) image build

# The whole suite on the default kernel (6.1), then the lab tests again on 6.12, without the
# nested-guest tests (TCG inside TCG: minutes each; they already ran on 6.1). Tests marked
# `extended` (ptnet vm with a real port inside the lab) run by hand: pytest -m extended tests/lab
# Known problem: on 6.12, the lab group of these two-CPU tests runs for tens of minutes under the
# pytest plugin (3 results in 12 minutes), although the same tests pass in about 90 s when run
# straight in the lab (ptnet lab run --kernel 6.12 --smp 2 -- pytest ...). Until that is found,
# the 6.12 pass leaves them out; they run on 6.1 in the first pass.
SLOW_ON_612 := test_two_processes_on_the_two_ends or test_concurrent_traffic_and_churn or \
	test_polling_threads or test_idle_polling_threads_sleep or test_qemu_ptnet_devices

# The third pass, on 7.x, runs the core lab set (tests marked `core`: the files in CORE_FILES of
# tests/lab/conftest.py: ABI, register, pipes, VALE, generic, kloop, unload), 213 of the 584
# not-nested lab tests. Measured as CPU time (TCG is CPU-bound, so on an idle 2-core machine about
# its wall time): the core set's one-CPU group about 6 minutes; the whole set about 2.7 times that,
# which would take make test from about 41 to about 55 minutes, too close to CI's hour. The whole
# set runs on 7.x by hand:
#   pytest -q tests/lab --lab-kernel trixie-backports -m "not nested" -k "not ($(SLOW_ON_612))"
test: setup passthrough lint
	$(PY) -m pytest -q tests -m "not extended"
	$(PY) -m pytest -q tests/lab --lab-kernel 6.12 -m "not nested" -k "not ($(SLOW_ON_612))"
	$(PY) -m pytest -q tests/lab --lab-kernel $(KERNEL_7X) -m "core and not nested" \
		-k "not ($(SLOW_ON_612))"
