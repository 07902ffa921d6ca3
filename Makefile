# hookgate: the two commands are `make run` (serve the shipped policies) and `make test`.
# Everything they need (the host build; for `make test` the wasm target, the policy components
# checked against the committed ones, the guest toolchains and the Python, JavaScript and C
# builds of `make guests`) is built on the way.

HOOKGATE := target/release/hookgate
GUEST_TARGET := target/wasm
# The shipped components are committed prebuilt (policies/*/*.wasm), so `make run` compiles no
# policy. They are built reproducibly: cargo hashes the absolute path of a path dependency outside
# the plugins workspace (hookgate-sdk) into every symbol, which reorders the code, so the sources
# are copied to one fixed folder (SHIPPED_SRC) and built there with that folder and cargo's home
# remapped; every checkout with the same Rust toolchain then builds the same bytes. `make test`
# rebuilds them and fails when a committed one differs (`make policies-check`).
SHIPPED_SRC := /tmp/hookgate-shipped-src
SHIPPED_TARGET := $(CURDIR)/target/wasm-shipped
SHIPPED_RUSTFLAGS := --remap-path-prefix=$(SHIPPED_SRC)=/hookgate --remap-path-prefix=$(or $(CARGO_HOME),$(HOME)/.cargo)=/cargo
# Shipped policy components: <tenant folder>/<file> built from plugins/rust/<crate>.
POLICIES := \
	policies/defaultApp/token_auth.wasm=plugins/rust/token-auth \
	policies/defaultApp/stream_guard.wasm=plugins/rust/stream-guard \
	policies/defaultApp/audit.wasm=plugins/rust/audit \
	policies/_default/token_auth.wasm=plugins/rust/token-auth \
	policies/_default/audit.wasm=plugins/rust/audit \
	policies/roomsApp/publisher_quota.wasm=plugins/rust/publisher-quota \
	policies/roomsApp/chat_relay.wasm=plugins/rust/chat-relay

.PHONY: run test toolchain host policies policies-check check-fmt clippy check-links

run: host kit
	$(HOOKGATE) serve --policies policies --admin-listen 127.0.0.1:8091

# The tests of the Redis backends and of a fleet need a real redis-server: `.ci/with-redis`
# installs it if missing, starts one on a free port for the run and stops it afterwards.
test: toolchain host policies-check guests kit check-monitoring
	.ci/with-redis cargo test --release --workspace
	cargo test --release --manifest-path plugins/Cargo.toml
	$(HOOKGATE) check policies
	$(HOOKGATE) test policies

# Every relative Markdown link, docs/ path and § reference in the repository resolves (.ci/run runs it).
check-links:
	.ci/check-links

toolchain:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

host:
	cargo build --release -p hookgate-cli

# Copies what the shipped components are built from to SHIPPED_SRC (see above).
.PHONY: shipped-src

shipped-src:
	rm -rf $(SHIPPED_SRC) && mkdir -p $(SHIPPED_SRC)/plugins $(SHIPPED_SRC)/crates
	cp -r plugins/Cargo.toml plugins/Cargo.lock plugins/rust plugins/fixtures $(SHIPPED_SRC)/plugins/
	cp -r crates/hookgate-sdk crates/hookgate-methods $(SHIPPED_SRC)/crates/
	cp -r wit Cargo.toml $(SHIPPED_SRC)/

# Builds each shipped component from SHIPPED_SRC into $(1)/<tenant folder>/<file>.
define build-shipped
	@for entry in $(POLICIES); do \
		out=$(1)/$${entry%%=*}; src=$${entry#*=}; mkdir -p $$(dirname $$out); \
		(cd $(SHIPPED_SRC) && RUSTFLAGS="$(SHIPPED_RUSTFLAGS)" $(CURDIR)/$(HOOKGATE) build $$src -o $$out --target-dir $(SHIPPED_TARGET) >/dev/null) || exit 1; \
	done
endef

# Rebuilds the committed components from plugins/rust/ (then commit them).
policies: toolchain host shipped-src
	$(call build-shipped,$(CURDIR))

# Builds every shipped component from source and compares it with the committed one.
policies-check: toolchain host shipped-src
	$(call build-shipped,$(CURDIR)/target/policies-check)
	@stale=; for entry in $(POLICIES); do \
		out=$${entry%%=*}; cmp -s target/policies-check/$$out $$out || stale="$$stale $$out"; \
	done; \
	if [ -n "$$stale" ]; then \
		echo "stale prebuilt policies (they differ from a build of their source with $$(rustc --version)):$$stale"; \
		echo "run 'make policies' and commit them"; exit 1; \
	fi; echo "the committed policies/*/*.wasm are the build of plugins/rust/"

# `make bench [BENCH_ARGS="--rounds 3 --duration 10s …"]`: the stream-guard rule served six ways
# (axum echo, native handler, Rego through regorus, a Node.js script, hookgate fresh and reuse),
# one run, three ways: unpinned, pinned (server CPU 0, load CPU 1), and server CPU per hook; then
# latency at half of each server's peak (constant rate, coordinated-omission corrected). Prints
# a markdown report (date, machine, command) and writes it to target/bench-report.md. Needs wrk
# and node. Defaults: 2 rounds of 5 s per phase and placement, about 6 minutes.
BENCH := target/release/hookgate-bench
BENCH_ARGS ?=

.PHONY: bench bench-guests

bench: policies
	@command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	@command -v node >/dev/null || (apt-get update && apt-get install -y nodejs)
	cargo build --release -p hookgate-bench
	$(BENCH) run --hookgate $(HOOKGATE) --policies policies --report target/bench-report.md $(BENCH_ARGS)

# `make bench-state [BENCH_ARGS="--rounds 3"]`: one hookgate with publisher-quota, in-process
# state against Redis state (a redis-server of its own), same run.
.PHONY: bench-state

bench-state: policies
	@command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	@command -v redis-server >/dev/null || (apt-get update && apt-get install -y redis-server)
	cargo build --release -p hookgate-bench
	$(BENCH) state --hookgate $(HOOKGATE) --policies policies $(BENCH_ARGS)

# `make bench-guests [GUEST_BENCH_ARGS="--modes fresh,reuse --langs python,js"]`: stream-guard in
# Rust, C, JavaScript and Python through hookgate serve, one run: module size, 1st/2nd start,
# evaluation p50/p99 (decision log), hooks/s (wrk). The table of plugins/README.md.
GUEST_BENCH_ARGS ?=

bench-guests: host guests
	@command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	cargo build --release -p hookgate-bench
	$(BENCH) guests --hookgate $(HOOKGATE) $(GUEST_BENCH_ARGS)

# ---- guests: the non-Rust guest policies (plugins/{python,js,c}, templates/; plugins/README.md) ----
# Installs the pinned guest toolchains, builds stream-guard in Python, JavaScript and C and the
# templates, and runs their cases natively and through `hookgate test`. `make test` runs it
# first: the end-to-end tests serve these builds (crates/hookgate-cli/tests/e2e/guests.rs).
.PHONY: guests

guests: host
	.ci/guest-toolchains
	plugins/build-guests.sh
# ---- end guests ----

# ---- kit: the author kit (docs/policies/outside-the-repository.md) ----
# Writes target/kit/ (removing what was there): the WIT, the Rust SDK as standalone crates, the
# Python/JavaScript/C build recipes and C helper, the templates. `hookgate new` and
# `hookgate build` of a source build find it there; the package installs it as /usr/share/hookgate/.
# The end-to-end test templates.rs (`make test`) makes a policy of each language with it.
.PHONY: kit

kit:
	plugins/make-kit.sh target/kit
# ---- end kit ----

# ---- monitoring: the Prometheus rules and Grafana dashboard of deploy/ (docs/operating/monitoring.md) ----
# `promtool check rules` and the rules' unit tests; installs Debian's prometheus (promtool, and the
# prometheus the end-to-end test of `make test` starts) if missing.
.PHONY: check-monitoring

check-monitoring:
	.ci/with-prometheus promtool check rules deploy/prometheus/hookgate.rules.yml
	.ci/with-prometheus promtool test rules deploy/prometheus/hookgate.rules.test.yml
# ---- end monitoring ----

# ---- packaging (issue 16: deploy/debian, deploy/oci, docs/operating/install.md) ----
# `make deb`: target/debian/hookgate_<version>_<arch>.deb (dpkg-deb from a staging folder in
# Debian's layout). `make image`: the OCI image hookgate:<version> from scratch (podman/buildah).
.PHONY: deb image

deb: host kit
	HOOKGATE=$(HOOKGATE) deploy/debian/build-deb

image: host kit
	HOOKGATE=$(HOOKGATE) deploy/oci/build-image
# ---- end packaging ----
