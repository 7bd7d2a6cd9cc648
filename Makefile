# The README's commands. `make test` is what CI runs (.ci/run).
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build demo test bench generate lint

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/authprobe ./cmd/authprobe

# Runs authprobe on its embedded demo realm: http://localhost:9741
demo: build
	./bin/authprobe demo

# Everything CI checks: formatting, vet, generated files, and all tests
# (examples are checked by config's tests the way `authprobe check` does).
# The integration tests run the real identity provider (npm oidc-provider,
# pinned by test/idp/package-lock.json).
test: lint test/idp/node_modules/.installed
	$(GO) test -race -count=1 ./...
	$(MAKE) fuzz

# Runs each fuzz target for FUZZTIME; go test -fuzz takes one target per
# run. Plain `go test` runs their seeds and testdata/fuzz/ inputs already.
FUZZTIME    ?= 10s
FUZZFLAGS   ?= -fuzzminimizetime=5s
FUZZTARGETS := ./config:FuzzParse ./config:FuzzTemplate ./probes:FuzzExtract ./probes/jwtstep:FuzzVerify

.PHONY: fuzz
fuzz:
	@for t in $(FUZZTARGETS); do \
	  pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "fuzzing $$fn in $$pkg for $(FUZZTIME)"; \
	  $(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) $(FUZZFLAGS) $$pkg || exit 1; \
	done

test/idp/node_modules/.installed: test/idp/package.json test/idp/package-lock.json
	npm ci --prefix test/idp --no-audit --no-fund --loglevel=error
	touch $@

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) mod tidy -diff

# Regenerates the files derived from code; CI fails when they drift.
generate:
	$(GO) run ./internal/gendocs

bench:
	bench/run.sh
