#!/bin/sh
# Regenerates Sources/Export/onnx.pb.swift from tools/onnx/onnx.proto (copied from the `onnx` 1.23.2 wheel,
# onnx/onnx.proto, IR version 13). Run once when the proto changes; the generated file is committed.
# Needs protoc (Debian `protobuf-compiler`) and protoc-gen-swift built from the swift-protobuf version this package
# resolves:  (cd .build/checkouts/swift-protobuf && swift build -c release --product protoc-gen-swift)
set -eu
cd "$(dirname "$0")/.."
PLUGIN=${PROTOC_GEN_SWIFT:-.build/checkouts/swift-protobuf/.build/release/protoc-gen-swift}
protoc --plugin=protoc-gen-swift="$PLUGIN" --proto_path=tools/onnx --swift_out=Sources/Export \
    --swift_opt=Visibility=Internal tools/onnx/onnx.proto
