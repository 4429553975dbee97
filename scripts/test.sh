#!/usr/bin/env bash
# The test command: installs what the tests need, then runs every check.
# Usage: bash scripts/test.sh            (what CI runs)
#        SKIP_INSTALL=1 bash scripts/test.sh   (tools already installed)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(go env GOPATH)/bin:$PATH"

if [ -z "${SKIP_INSTALL:-}" ]; then
  echo "== installing test tools"
  command -v staticcheck >/dev/null || go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
  # Emulators for the s3 and azure_blob destination tests (under CI=true those
  # tests fail without them): Versity S3 Gateway, and Azurite's blob service
  # (3.36+ needs Node 21) in .tools/. Each is reinstalled only when missing or
  # of another version.
  VERSITYGW_VERSION=v1.8.0
  vgw=$(command -v versitygw || true)
  vgw_mod=$([ -n "$vgw" ] && go version -m "$vgw" 2>/dev/null || true)
  grep -q "versity/versitygw[[:space:]]*${VERSITYGW_VERSION}[[:space:]]" <<<"$vgw_mod" \
    || go install "github.com/versity/versitygw/cmd/versitygw@${VERSITYGW_VERSION}"
  AZURITE_VERSION=3.35.0
  [ "$(node -p "require('./.tools/azurite/node_modules/azurite/package.json').version" 2>/dev/null || true)" = "$AZURITE_VERSION" ] \
    || npm install --prefix "$PWD/.tools/azurite" --save-exact --no-audit --no-fund "azurite@${AZURITE_VERSION}"
  # splunk-logging, the published HEC client the Splunk HEC input is tested
  # with (internal/ingest; under CI=true that test fails without it).
  [ -f .tools/npm/splunk-logging@0.11.1/node_modules/splunk-logging/package.json ] \
    || npm install --prefix "$PWD/.tools/npm/splunk-logging@0.11.1" --save-exact --no-audit --no-fund splunk-logging@0.11.1 needle@2.9.1
  # kcat (librdkafka): the independent client the kafka destination's tests
  # read back with (under CI=true they fail without it). Debian package, as root.
  command -v kcat >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat)
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "not gofmt'ed:"; echo "$unformatted"; exit 1; fi
echo "== go vet"
go vet ./...
echo "== staticcheck"
staticcheck ./...
echo "== go test"
go test -count=1 -timeout 30m ./...
