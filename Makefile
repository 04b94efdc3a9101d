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

demo: setup passthrough
	$(PTNET) doctor
	$(PTNET) lab run --cpus 2 --modules netmap -- sh scripts/demo-guest.sh
	$(PTNET) lab run --nested-kvm --cpus 1 --mem 2048 --timeout 1800 --modules netmap -- sh scripts/demo-chain.sh

lint:
	$(PY) -m ruff check ptnet tests
	$(PY) -m ruff format --check ptnet tests

# What the passthrough and chain tests need besides the lab: our patched QEMU, the default guest
# image and the images of the chain roles (the lab sees the cache read-only, so they are built here).
passthrough: setup
	$(PTNET) build qemu
	$(PTNET) image build
	for role in fw ids nat; do $(PTNET) image build $$role >/dev/null || exit 1; done

# The whole suite on the default kernel (6.1), then every lab test again on 6.12 and on 7.x,
# without the nested-guest tests (TCG inside TCG: minutes each; they already ran on 6.1). Tests
# marked `extended` (ptnet vm with a real port inside the lab) run by hand: pytest -m extended
# tests/lab. The lab plugin runs a group's files in one VM per host CPU, all at once, balanced by
# tests/lab/durations.json; the three passes keep both CPUs of a 2-core machine busy.
test: setup passthrough lint
	$(PY) -m pytest -q tests -m "not extended"
	$(PY) -m pytest -q tests/lab --lab-kernel 6.12 -m "not nested"
	$(PY) -m pytest -q tests/lab --lab-kernel $(KERNEL_7X) -m "not nested"
