#!/usr/bin/env bash
# The test command: installs what the tests need, then runs every check.
# Usage: bash scripts/test.sh            (what CI runs)
#        SKIP_INSTALL=1 bash scripts/test.sh   (tools already installed)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(go env GOPATH)/bin:$PATH"

if [ -z "${SKIP_INSTALL:-}" ]; then
  echo "== installing test tools"
  # A second, separately started NATS server for the --nats (external cluster) tests,
  # built from the same module version the project embeds.
  mkdir -p bin
  NATS_VERSION=$(go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)
  [ -x bin/nats-server ] || GOBIN="$PWD/bin" go install "github.com/nats-io/nats-server/v2@${NATS_VERSION}"
  command -v staticcheck >/dev/null || go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
export RUNNEL_NATS_SERVER_BIN="$PWD/bin/nats-server"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "not gofmt'ed:"; echo "$unformatted"; exit 1; fi
echo "== go vet"
go vet ./...
echo "== staticcheck"
staticcheck ./...
echo "== go test"
go test -count=1 -timeout 30m ./...
