# wscenter — common tasks.
#
#   make run     build and start `wscenter serve` (ARGS="..." passes options)
#   make test    run the tests against a throwaway redis-server, then the interop tests
#   make interop the interop tests alone: real pysher / pusher SDK against a 2-node, 2-gateway fleet
#   make browser the browser tests alone: the console at /ui/ in headless Chromium against a 2-node, 2-gateway fleet
#   make screenshots  the browser tests, saving a screenshot of each view in docs/img/
#   make conformance  every Autobahn WebSocket case (kosoku) against ECHO_PATH (docs/conformance.md)
#   make bench   run the benchmarks in Benchmarks/, Redis handled like `make test`
#   make bench-fleet  wrk and a 5,000-connection broadcast against 2 nodes + 1 gateway
#   make bench-fanout the fan-out lab (../shared/perf): wscenter next to Node.js ws, then wrk; markdown tables
#   make soak    10,000 WebSockets for 10 minutes with messages flowing; RSS must stay flat (not in `make test`)
#   make fleet-smoke  the compose topology as local processes (1 redis, 3 nodes, 2 gateways), curl checks
#   make deploy-check validate docker/ and k8s/ offline (compose config, strict k8s schemas, consistency)
#   make image        build the container image (needs Docker)
#   make compose-up   start the docker compose fleet (needs Docker)
#
# `make test` and `make bench` start a redis-server on a free port of 127.0.0.1
# and stop it afterwards (scripts/with-redis.sh). To use your own Redis instead:
#   REDIS_URL=redis://127.0.0.1:6379 make test
# Pass options to `swift test` with SWIFT_TEST_FLAGS, e.g.
#   make test SWIFT_TEST_FLAGS="--filter RedisTests" INTEROP=0
# INTEROP=0 skips the interop tests (Tests/interop, Python; pip installs what they need),
# BROWSER=0 the browser tests (Tests/browser; apt installs chromium, pip installs selenium),
# CONFORMANCE=0 the fast subset of the Autobahn WebSocket cases (pip installs kosoku),
# SMOKE=0 the fleet smoke test, DEPLOY_CHECK=0 the validation of docker/ and k8s/.

SWIFT ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
SWIFT_BUILD_FLAGS ?=
SWIFT_TEST_FLAGS ?=
BENCH_ARGS ?=
SOAK_ARGS ?=
INTEROP ?= 1
BROWSER ?= 1
CONFORMANCE ?= 1
SMOKE ?= 1
DEPLOY_CHECK ?= 1
ARGS ?=

.PHONY: all deps build test interop browser screenshots conformance fleet-smoke deploy-check image compose-up run bench bench-compare bench-fleet bench-fanout soak clean

all: build

## Install libhiredis-dev, redis-server, redis-tools and pkg-config if any is missing.
deps:
	@scripts/deps.sh

## Build everything (not the tests).
build:
	$(SWIFT) build $(SWIFT_BUILD_FLAGS)

## Run the tests with REDIS_URL set (a throwaway redis-server unless REDIS_URL is set),
## then the interop tests on one Redis and again on a Redis Cluster (unless INTEROP=0), the browser tests (unless BROWSER=0), a fast subset of the Autobahn WebSocket cases
## (unless CONFORMANCE=0), the fleet smoke test (unless SMOKE=0) and the validation of
## docker/ and k8s/ (unless DEPLOY_CHECK=0).
## (`swift test` builds the wscenter binary too; the later steps use that one.)
test: deps
	WITH_CLUSTER=1 scripts/with-redis.sh $(SWIFT) test $(SWIFT_BUILD_FLAGS) $(SWIFT_TEST_FLAGS)
	@if [ "$(INTEROP)" != 0 ]; then \
	    WSCENTER_BIN="$$($(SWIFT) build $(SWIFT_BUILD_FLAGS) --show-bin-path)/wscenter" scripts/with-redis.sh scripts/interop.sh && \
	    WSCENTER_BIN="$$($(SWIFT) build $(SWIFT_BUILD_FLAGS) --show-bin-path)/wscenter" WITH_CLUSTER=1 INTEROP_BROKER=cluster scripts/with-redis.sh scripts/interop.sh; \
	fi
	@if [ "$(BROWSER)" != 0 ]; then \
	    WSCENTER_BIN="$$($(SWIFT) build $(SWIFT_BUILD_FLAGS) --show-bin-path)/wscenter" scripts/with-redis.sh scripts/browser.sh; \
	fi
	@if [ "$(CONFORMANCE)" != 0 ]; then \
	    WSCENTER_BIN="$$($(SWIFT) build $(SWIFT_BUILD_FLAGS) --show-bin-path)/wscenter" scripts/conformance.sh fast; \
	fi
	@if [ "$(SMOKE)" != 0 ]; then \
	    scripts/fleet-smoke.sh "$$($(SWIFT) build $(SWIFT_BUILD_FLAGS) --show-bin-path)/wscenter"; \
	fi
	@if [ "$(DEPLOY_CHECK)" != 0 ]; then scripts/validate-deploy.sh; fi

## The compose topology as local processes: 1 redis-server, 3 nodes, 2 gateways, checked
## with curl-level requests through each gateway, then a drain (SIGTERM) of a node.
fleet-smoke: deps
	$(SWIFT) build $(SWIFT_BUILD_FLAGS) --product wscenter
	scripts/fleet-smoke.sh "$$($(SWIFT) build $(SWIFT_BUILD_FLAGS) --show-bin-path)/wscenter"

## Validate docker/ and k8s/ without Docker or a cluster (installs its tools when missing).
deploy-check:
	scripts/validate-deploy.sh

## Build the container image (context = the repository root).
image:
	docker build -f docker/Dockerfile -t wscenter:local .

## Start Redis, 3 nodes, 2 gateways and nginx with Docker Compose.
compose-up:
	docker compose -f docker/compose.yml up --build

## The interop tests alone: pysher, the pusher SDK and websockets against a real fleet on Redis.
## INTEROP_BROKER=cluster runs them on a Redis Cluster instead.
interop: deps
	$(SWIFT) build $(SWIFT_BUILD_FLAGS) --product wscenter
	WSCENTER_BIN="$$($(SWIFT) build $(SWIFT_BUILD_FLAGS) --show-bin-path)/wscenter" WITH_CLUSTER=$(if $(filter cluster,$(INTEROP_BROKER)),1,0) scripts/with-redis.sh scripts/interop.sh

## The browser tests alone: the console at /ui/ and /client.js in headless Chromium.
browser: deps
	$(SWIFT) build $(SWIFT_BUILD_FLAGS) --product wscenter
	WSCENTER_BIN="$$($(SWIFT) build $(SWIFT_BUILD_FLAGS) --show-bin-path)/wscenter" scripts/with-redis.sh scripts/browser.sh

## The browser tests, saving a screenshot of each view in docs/img/ (the README shows them).
screenshots: deps
	$(SWIFT) build $(SWIFT_BUILD_FLAGS) --product wscenter
	SCREENSHOTS="$(CURDIR)/docs/img" WSCENTER_BIN="$$($(SWIFT) build $(SWIFT_BUILD_FLAGS) --show-bin-path)/wscenter" scripts/with-redis.sh scripts/browser.sh

## Every Autobahn TestSuite case, run by kosoku (pip-installed when missing), against
## `wscenter serve` with ECHO_PATH set; prints the results table (docs/conformance.md).
conformance: deps
	$(SWIFT) build $(SWIFT_BUILD_FLAGS) --product wscenter
	WSCENTER_BIN="$$($(SWIFT) build $(SWIFT_BUILD_FLAGS) --show-bin-path)/wscenter" scripts/conformance.sh all

## Build, then start `wscenter serve`; e.g. make run ARGS="--port 0".
run:
	$(SWIFT) build $(SWIFT_BUILD_FLAGS) --product wscenter
	"$$($(SWIFT) build $(SWIFT_BUILD_FLAGS) --show-bin-path)/wscenter" serve $(ARGS)

## Run the package-benchmark suite in Benchmarks/ with REDIS_URL set, then check the node's
## write path against its allocation thresholds (Benchmarks/Thresholds): a regression fails.
## After a deliberate change: cd Benchmarks && swift package --allow-writing-to-package-directory
##   benchmark thresholds update --target FleetBenchmarks --metric mallocCountTotal
bench: deps
	@test -f Benchmarks/Package.swift || { echo "bench: no Benchmarks/Package.swift yet" >&2; exit 1; }
	cd Benchmarks && ../scripts/with-redis.sh $(SWIFT) package benchmark $(BENCH_ARGS)
	cd Benchmarks && $(SWIFT) package benchmark thresholds check --target FleetBenchmarks --metric mallocCountTotal

## The benchmarks, then redis-benchmark's PUBLISH runs against the same Redis.
bench-compare: deps
	cd Benchmarks && ../scripts/with-redis.sh sh -c '$(SWIFT) package benchmark $(BENCH_ARGS) && ./redis-benchmark.sh'

## The fleet benchmarks: wrk on the gateway, broadcast to 5,000 connections (release build).
bench-fleet: deps
	scripts/with-redis.sh Benchmarks/fleet/run.sh

## The fan-out lab in ../shared/perf (PERF_LAB=dir elsewhere), release build: fan-out and
## targeted sends of wscenter, its fleet, node-ws and a node-ws fleet at 5,000 clients (pinned,
## windows 1 and 8), idle memory at 10,000, wrk on a gateway's getConnectionCount; prints markdown
## tables. CLIENTS=1000 IDLE_CLIENTS=2000 for a shorter run; PEERS, IDLE_PEERS, OUT, WSCENTER_BIN
## (scripts/bench-fanout.sh lists them).
bench-fanout: deps
	SWIFT="$(SWIFT)" scripts/bench-fanout.sh

## The soak (about 12 minutes; not part of `make test`): a release node and gateway on a
## throwaway Redis, 10,000 native WebSockets, 10 minutes of API and client messages, VmRSS
## sampled every 10 s; fails when a process's RSS at the end is more than 5 % away from its
## RSS after the 2-minute warm-up. SOAK_ARGS="--connections 2000 --duration 120 --warmup 30"
## for a shorter run (Benchmarks/soak/soak.py --help; figures in docs/performance.md).
soak: deps
	$(SWIFT) build -c release --product wscenter
	@python3 -c "import websockets.asyncio.client" 2>/dev/null || python3 -m pip install -q websockets
	WSCENTER_BIN="$$($(SWIFT) build -c release --show-bin-path)/wscenter" scripts/with-redis.sh python3 Benchmarks/soak/soak.py $(SOAK_ARGS)

## Remove build products.
clean:
	$(SWIFT) package clean
	rm -rf Benchmarks/.build .build-deploy
