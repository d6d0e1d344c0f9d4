#!/usr/bin/env bash
# Regenerates schema/generated/*.rs (the bindings used when no `capnp` compiler is installed).
# Needs the Cap'n Proto compiler: apt-get install capnproto
set -euo pipefail
cd "$(dirname "$0")/.."
touch schema/message.capnp
cargo build -q
out=$(ls -td target/debug/build/scaler-rs-*/out | head -1)
cp "$out"/*_capnp.rs schema/generated/
echo "regenerated: $(ls schema/generated)"
