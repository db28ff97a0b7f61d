# selfcare — make run | test | bench | build | lint | screenshots
#
# run, test and bench first install what they need from Debian when it is
# missing (PostgreSQL; for test also chromium and nats-server), with sudo
# unless run as root.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
# A recipe runs in one shell, so test's trap can stop the cluster it started.
.ONESHELL:
.DEFAULT_GOAL := build

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT_INSTALL := $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends
HAVE_POSTGRESQL := compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
HAVE_CHROMIUM := test -x /usr/bin/chromium
HAVE_NATS_SERVER := test -x /usr/sbin/nats-server || command -v nats-server >/dev/null
GO_FILES := find . -name '*.go' -not -path './.*' -not -path '*/node_modules/*' -not -path '*/testdata/*' -print0

.PHONY: run test bench bench-scale build lint fmt-check postgresql test-dependencies screenshots

# run prints, once the server listens, where to open the UI and how to
# create a first contract.
run: postgresql
	SELFCARE_START_HINTS=1 go run ./cmd/selfcare serve

bench: postgresql
	go run ./cmd/selfcare bench

# bench-scale seeds a million events, then measures at that size (about
# ten minutes); SCALE=200000 for a smaller history.
bench-scale: postgresql
	go run ./cmd/selfcare bench -scale $(SCALE)

build:
	go build -o bin/selfcare ./cmd/selfcare

lint: fmt-check
	go vet ./...

fmt-check:
	unformatted=$$($(GO_FILES) | xargs -0 -r gofmt -l)
	if [[ -n "$$unformatted" ]]; then
		printf 'These files need gofmt -w:\n%s\n' "$$unformatted" >&2
		exit 1
	fi

# test runs every package's tests against one throwaway cluster (fsync off),
# which it always stops, and exits with the tests' status.
test: test-dependencies
	tmp=$$(mktemp -d -t selfcare-test-XXXXXX)
	chmod 755 "$$tmp" # the server may run as the postgres user, which must reach it
	stop_cluster() {
		if [[ -x "$$tmp/selfcare" ]]; then "$$tmp/selfcare" db stop --dir "$$tmp/pg"; fi
		rm -rf "$$tmp"
	}
	trap stop_cluster EXIT
	go build -o "$$tmp/selfcare" ./cmd/selfcare
	url=$$("$$tmp/selfcare" db start --test --dir "$$tmp/pg")
	export SELFCARE_TEST_DATABASE_URL="$$url"
	go vet ./...
	$(MAKE) --no-print-directory fmt-check
	# Every request and response of the integration tests is checked against
	# openapi.json (testkit.CheckOpenAPI), so the document cannot drift.
	SELFCARE_TEST_OPENAPI=1 go test -race -count=1 -timeout 15m ./...

# screenshots regenerates the README's screenshots (docs/screenshots/*.png)
# with the browser tests' chromium: the test that walks every page at a
# desktop's and a phone's width saves them on its way.
screenshots: test-dependencies
	tmp=$$(mktemp -d -t selfcare-shots-XXXXXX)
	chmod 755 "$$tmp"
	stop_cluster() {
		if [[ -x "$$tmp/selfcare" ]]; then "$$tmp/selfcare" db stop --dir "$$tmp/pg"; fi
		rm -rf "$$tmp"
	}
	trap stop_cluster EXIT
	go build -o "$$tmp/selfcare" ./cmd/selfcare
	export SELFCARE_TEST_DATABASE_URL=$$("$$tmp/selfcare" db start --test --dir "$$tmp/pg")
	mkdir -p docs/screenshots
	SELFCARE_SCREENSHOTS="$(CURDIR)/docs/screenshots" go test -count=1 -run 'TestCustomerAreaInABrowser/phones' ./web/

postgresql:
	if ! $(HAVE_POSTGRESQL); then $(APT_INSTALL) postgresql; fi

# One apt-get run for whatever is missing: PostgreSQL, Debian's chromium
# for the headless UI tests, and nats-server (JetStream) for the NATS
# forwarding and consumer tests.
test-dependencies:
	missing=()
	$(HAVE_POSTGRESQL) || missing+=(postgresql)
	$(HAVE_CHROMIUM) || missing+=(chromium)
	$(HAVE_NATS_SERVER) || missing+=(nats-server)
	if (( $${#missing[@]} > 0 )); then $(APT_INSTALL) "$${missing[@]}"; fi
