# Developer entry points. `make render` and `make test` are the two commands of the README;
# CI runs `make test` (.ci/run). Each target installs what it needs on first use.

PYTHON ?= python3
VENV := .venv
CHECKOV_VENV := .venv-checkov
STACK ?= dev
OUT ?= render

BIN := $(VENV)/bin
DEV_STAMP := $(VENV)/.installed
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
# The policy pack's own virtualenv, where the Pulumi CLI looks for it (policy_pack/PulumiPolicy.yaml).
PACK_VENV := policy_pack/venv
PACK_STAMP := $(PACK_VENV)/.installed

# The stacks rendered on their own (the split pair shared-platform/shared-churn renders together:
# tests/components/test_split.py).
STACKS := dev staging prod shared

.PHONY: setup render render-all test test-fast test-unit test-integration test-conformance lint lock clean tools \
	verify-policies e2e e2e-pulumi crds

setup: $(DEV_STAMP) $(CHECKOV_STAMP) $(PACK_STAMP)

# Reinstall whenever a requirements or lock file changes.
$(DEV_STAMP): requirements.txt requirements-dev.txt app/requirements.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -r requirements-dev.txt
	touch $@

$(CHECKOV_STAMP): requirements-checkov.txt constraints-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		-c constraints-checkov.txt -r requirements-checkov.txt
	touch $@

$(PACK_STAMP): policy_pack/requirements.txt policy_pack/constraints.txt
	$(PYTHON) -m venv $(PACK_VENV)
	$(PACK_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r policy_pack/requirements.txt
	touch $@

## tools: the pinned Go engines (tools/toolchain.py), built once into the per-user cache
tools:
	$(PYTHON) -m tools.toolchain ensure

## render: the main job offline: write the manifests of stack $(STACK) to $(OUT)/$(STACK)
render: $(DEV_STAMP)
	$(BIN)/python -m tools.render --stack $(STACK) --out $(OUT)/$(STACK)

render-all: $(DEV_STAMP)
	for stack in $(STACKS); do $(BIN)/python -m tools.render --stack $$stack --out $(OUT)/$$stack || exit 1; done

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## test: the whole suite, as CI runs it: the fast tiers, the real-API-server tier, the real `pulumi up` tier
test: test-fast e2e e2e-pulumi

## test-fast: lint, the policy suites, then the unit, policy, app and conformance tests
test-fast: setup lint verify-policies
	$(BIN)/python -m pytest

## test-unit, test-integration, test-conformance: one tier of the fast tests (tests/support/tiers.py
## says which folder is which; make e2e is the fourth)
test-unit: $(DEV_STAMP)
	$(BIN)/python -m pytest -m unit

test-integration: setup
	$(BIN)/python -m pytest -m integration

test-conformance: setup
	$(BIN)/python -m pytest -m conformance

## verify-policies: the Rego checked by OPA (strict, formatted, lib unit tests) and every policy's
## gator suite; the committed templates must be the generated ones
verify-policies: $(DEV_STAMP)
	$(PYTHON) -m tools.toolchain ensure opa gator >/dev/null
	opa=$$($(PYTHON) -m tools.toolchain path opa) && gator=$$($(PYTHON) -m tools.toolchain path gator) && \
	$$opa check --strict secure_model_serving/policies && \
	$$opa fmt --fail --list secure_model_serving/policies && \
	$$opa test secure_model_serving/policies/lib && \
	$(BIN)/python -m secure_model_serving.policies --check && \
	$$gator verify secure_model_serving/policies/...

## e2e: the real-API-server tier (tests/e2e): each stack installed into its own sandbox of etcd,
## kube-apiserver and the Gatekeeper manager on loopback (tools/sandbox), one after the other;
## writes e2e-report.json and ends with the summary line. Builds the engines on first use.
e2e: $(DEV_STAMP)
	$(BIN)/python -m tests.e2e

## e2e-pulumi: the real `pulumi up` tier (tests/e2e_pulumi): the Pulumi CLI, engine and Kubernetes
## provider against a sandbox, offline (file backend, passphrase secrets); ends with the summary line.
e2e-pulumi: setup
	$(PYTHON) -m tools.toolchain ensure pulumi pulumi-language-python pulumi-resource-kubernetes >/dev/null
	$(BIN)/python -m tests.e2e_pulumi

## crds: the upstream CRD schemas at the pinned versions into $(CRDS_DIR), for a machine without
## ../shared/crds (hosted CI; needs the internet). Point SMS_CRDS_DIR at the folder.
CRDS_DIR ?= .upstream-crds
crds: $(DEV_STAMP)
	$(BIN)/python -m tools.upstream_crds fetch $(CRDS_DIR)

## lock: refresh the lock files from the installed virtualenvs
# The dev venv's lock keeps setuptools (`--all`: plain freeze drops it), the build backend
# tests/test_wheel.py builds with; pip is the interpreter's own and stays out.
lock: setup
	{ echo "# Lock file: every package of the development virtualenv at its tested version."; \
	  echo "# Regenerate with: make lock"; $(BIN)/python -m pip freeze --all --exclude pip; } > constraints.txt
	{ echo "# Lock file: every package of the checkov virtualenv at its tested version."; \
	  echo "# Regenerate with: make lock"; $(CHECKOV_VENV)/bin/python -m pip freeze; } > constraints-checkov.txt
	{ echo "# Lock file: every package of the pack's virtualenv at its tested version (make setup makes it;"; \
	  echo "# the Pulumi CLI makes the same one from requirements.txt when it is missing)."; \
	  $(PACK_VENV)/bin/python -m pip freeze; } > policy_pack/constraints.txt

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(PACK_VENV) $(OUT)

## Shift left and incident response (docs/runbook-privileged-pod.md). CI runs these same targets.
BASE_REF ?= origin/main
BASE_TREE ?= .render-base-tree
BASE_OUT ?= render-base
DIFF_OUT ?= render-diff.md

.PHONY: policy-check scan render-base diff audit preview

## policy-check: render every stack, then judge each render with its own Gatekeeper policies
policy-check: render-all
	for stack in $(STACKS); do $(BIN)/python -m tools.policy check $(OUT)/$$stack || exit 1; done

## scan: hadolint on the model server's Dockerfile, trivy config on every render
# One trivy run per stack: below its target, trivy silently skips a directory named `dev`.
scan: render-all
	$(BIN)/hadolint app/Dockerfile
	for stack in $(STACKS); do \
		$(BIN)/trivy config --skip-check-update --quiet --exit-code 1 $(OUT)/$$stack || exit 1; \
	done

## render-base: render every stack of $(BASE_REF) (a git worktree) into $(BASE_OUT)
render-base: $(DEV_STAMP)
	rm -rf $(BASE_TREE) $(BASE_OUT)
	git worktree add --detach $(BASE_TREE) $(BASE_REF)
	for stack in $(STACKS); do \
		if [ ! -f $(BASE_TREE)/stacks/Pulumi.$$stack.yaml ]; then continue; fi; \
		(cd $(BASE_TREE) && $(CURDIR)/$(BIN)/python -m tools.render --stack $$stack --out $(CURDIR)/$(BASE_OUT)/$$stack) || status=1; \
	done; git worktree remove --force $(BASE_TREE); exit $${status:-0}

## diff: the security-aware render diff of every stack, $(BASE_OUT) -> $(OUT), into $(DIFF_OUT)
diff: $(DEV_STAMP)
	rm -f $(DIFF_OUT)
	for stack in $(STACKS); do \
		echo "# Stack $$stack" >> $(DIFF_OUT); \
		if [ ! -d $(BASE_OUT)/$$stack ]; then echo "A new stack: nothing to compare it with." >> $(DIFF_OUT); continue; fi; \
		$(BIN)/python -m tools.render diff $(BASE_OUT)/$$stack $(OUT)/$$stack --fail-on-weakening >> $(DIFF_OUT) || status=1; \
	done; cat $(DIFF_OUT); exit $${status:-0}

## audit: the blast-radius audit of stack $(STACK)'s render
audit: render
	$(BIN)/python -m tools.audit $(OUT)/$(STACK)

## preview: pulumi preview of stack $(STACK) with the policy pack (needs a backend and a cluster)
preview: $(DEV_STAMP)
	pulumi preview --diff --stack $(STACK) --policy-pack policy_pack
