#!/usr/bin/env python3
"""The peer side of transfer-bench's whole-model benchmarks: PyTorch, ONNX Runtime and OpenVINO on the CPU, with the
same models, batch and result names as the Swift side.

    /root/tkvenv/bin/python benchmarks/peers.py --threads 2 --batch 32 --json OUT.json \
        [--models efficientnet_lite0,resnet18,minilm] [--peers pytorch,onnxruntime,openvino] [--repeats 3] [--quick]

Models (fp32 unless said; inputs seeded: images N(0, 1) [B, 3, 224, 224], token ids uniform in the vocabulary
[B, 128] with a full attention mask, labels uniform in 10 classes):
  efficientnet_lite0  the EfficientNet-Lite reference of tools/make_vision_fixtures.py with the real ImageNet weights
                      from ${TRANSFERKIT_CACHE:-~/.cache/transferkit}/efficientnet-lite0/ (random if absent);
  resnet18            torchvision resnet18(weights=None);
  minilm              transformers BertModel from ${TRANSFERKIT_CACHE}/minilm-l6/ (random all-MiniLM-L6-v2 config if
                      it fails to load), output the last hidden state; attention "sdpa", else "eager".
Results (items/s = batch / median seconds of --repeats timed runs after one warm-up):
  <model>_infer       eval-mode forward with the 1000-class classifier (vision) — PyTorch under inference_mode (the
                      faster of NCHW and channels_last), ONNX Runtime and OpenVINO (the better of the LATENCY and
                      THROUGHPUT hints) on one ONNX export (opset 17, fixed batch) per model;
  <model>_infer_bf16  OpenVINO with INFERENCE_PRECISION_HINT bf16, only where the CPU has avx512_bf16 or AMX;
  <model>_infer_int8  post-training static int8 of the same ONNX export: ONNX Runtime `quantize_static` (QDQ,
                      per-channel s8 weights, u8 activations, min-max) and OpenVINO with NNCF `nncf.quantize`, both
                      calibrated on the timed inputs (as transfer-bench's int8 rows);
  <model>_train       PyTorch: one AdamW (lr 1e-4) step of every parameter, cross-entropy through a new 10-class
                      linear head (vision: replacing the classifier; MiniLM: on the token mean of the last state);
  <model>_train_top   the same with only the top trainable — lite0: the blocks of its last two stages, the head conv
                      and its BatchNorm; ResNet-18: layer4; MiniLM: the top 2 encoder layers; plus the new head.
                      Frozen BatchNorm layers stay in eval mode.
  <model>_train_bf16  the <model>_train step with the forward and loss under torch.autocast("cpu", bfloat16) (fp32
                      master weights and AdamW state), only where the CPU has avx512_bf16 or AMX.
Every measurement (each variant too) runs in a fresh subprocess, so its peak RSS is its own; the reported variant is
the fastest one, with its RSS. OMP/MKL threads, torch threads, ORT intra-op threads and OpenVINO's
INFERENCE_NUM_THREADS are all --threads. Progress goes to stderr; without --json a table is printed on stdout.
"""
import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("TRANSFERKIT_CACHE", os.path.expanduser("~/.cache/transferkit"))
LITE0_WEIGHTS = os.path.join(CACHE, "efficientnet-lite0", "efficientnet-lite0-57934424.pth")
MINILM_DIR = os.path.join(CACHE, "minilm-l6")
MODELS = ["efficientnet_lite0", "resnet18", "minilm"]
PEERS = ["pytorch", "onnxruntime", "openvino"]
PEER_MODULES = {"pytorch": "torch", "onnxruntime": "onnxruntime", "openvino": "openvino"}
VISION = {"efficientnet_lite0", "resnet18"}
IMAGE, SEQ, CLASSES = 224, 128, 10


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------------------
# Child side: one measurement (or one export) per process.
# ---------------------------------------------------------------------------------------------------------------------


def minilm_vocab():
    try:
        with open(os.path.join(MINILM_DIR, "config.json")) as f:
            return json.load(f)["vocab_size"]
    except (OSError, KeyError, ValueError):
        return 30522


def make_inputs(model, batch):
    """Seeded numpy inputs: {"input": images} or {"input_ids", "attention_mask"}, and the labels."""
    rng = np.random.RandomState(0)
    if model in VISION:
        inputs = {"input": rng.standard_normal((batch, 3, IMAGE, IMAGE)).astype(np.float32)}
    else:
        inputs = {"input_ids": rng.randint(0, minilm_vocab(), (batch, SEQ)).astype(np.int64),
                  "attention_mask": np.ones((batch, SEQ), np.int64)}
    return inputs, rng.randint(0, CLASSES, batch).astype(np.int64)


def median_seconds(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def build_torch_model(model):
    """(module, weights, attention implementation or None, [top modules]) in PyTorch; the top list excludes the head."""
    import torch
    if model == "efficientnet_lite0":
        spec = importlib.util.spec_from_file_location("make_vision_fixtures",
                                                      os.path.join(HERE, "..", "tools", "make_vision_fixtures.py"))
        reference = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(reference)
        net = reference.EfficientNetLite("lite0")
        weights = "random"
        if os.path.exists(LITE0_WEIGHTS):
            net.load_state_dict(torch.load(LITE0_WEIGHTS, map_location="cpu", weights_only=True), strict=True)
            weights = "pretrained"
        starts = np.cumsum([0] + [stage[0] for stage in reference.STAGES])  # lite0: depth 1.0, repeats unscaled
        assert starts[-1] == len(net._blocks)
        top = [net._blocks[i] for i in range(starts[-3], starts[-1])] + [net._conv_head, net._bn1]
        return net, weights, None, top
    if model == "resnet18":
        import torchvision
        net = torchvision.models.resnet18(weights=None)
        return net, "random", None, [net.layer4]
    from transformers import BertConfig, BertModel
    from transformers.utils import logging
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    for attention in ("sdpa", "eager"):
        try:
            net = BertModel.from_pretrained(MINILM_DIR, attn_implementation=attention, add_pooling_layer=False)
            weights = "pretrained"
        except (OSError, ValueError, ImportError):
            try:
                config = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                                    intermediate_size=1536, attn_implementation=attention)
                net, weights = BertModel(config, add_pooling_layer=False), "random"
            except (ValueError, ImportError):
                continue
        return net, weights, attention, list(net.encoder.layer[-2:])
    raise RuntimeError("no attention implementation of BertModel works")


def run_pytorch(spec):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(spec["threads"])
    model, mode, variant = spec["model"], spec["mode"], spec["variant"]
    net, weights, attention, top = build_torch_model(model)
    inputs, labels = make_inputs(model, spec["batch"])
    inputs = {k: torch.from_numpy(v) for k, v in inputs.items()}
    labels = torch.from_numpy(labels)
    if variant == "channels_last":
        net = net.to(memory_format=torch.channels_last)
        inputs["input"] = inputs["input"].contiguous(memory_format=torch.channels_last)

    if mode == "infer":
        net.eval()
        if model in VISION:
            forward = lambda: net(inputs["input"])
        else:
            forward = lambda: net(**inputs).last_hidden_state

        def step():
            with torch.inference_mode():
                forward()
    else:
        if model == "efficientnet_lite0":
            net._fc = head = torch.nn.Linear(net._fc.in_features, CLASSES)
            forward = lambda: net(inputs["input"])
        elif model == "resnet18":
            net.fc = head = torch.nn.Linear(net.fc.in_features, CLASSES)
            forward = lambda: net(inputs["input"])
        else:
            head = torch.nn.Linear(net.config.hidden_size, CLASSES)
            forward = lambda: head(net(**inputs).last_hidden_state.mean(1))
        if mode == "train_top":
            net.requires_grad_(False)
            for m in top + [head]:
                m.requires_grad_(True)
        modules = [net] if model in VISION else [net, head]  # the vision heads are part of `net`
        optimizer = torch.optim.AdamW([p for m in modules for p in m.parameters() if p.requires_grad], lr=1e-4)
        net.train()
        for m in net.modules():  # frozen BatchNorm layers keep their running statistics
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and not any(p.requires_grad for p in m.parameters()):
                m.eval()

        autocast = mode == "train_bf16"  # one line for PyTorch's users: CPU autocast to bf16 around the forward

        def step():
            optimizer.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                loss = F.cross_entropy(forward(), labels)
            loss.backward()
            optimizer.step()

    seconds = median_seconds(step, spec["repeats"])
    return {"seconds": seconds, "items": spec["batch"], "weights": weights,
            "variant": attention if variant is None else variant}


def run_export(spec):
    """Exports the eval-mode model to ONNX (opset 17, fixed batch) with the TorchScript exporter."""
    import warnings
    import torch
    warnings.filterwarnings("ignore")
    torch.set_num_threads(spec["threads"])
    net, weights, attention, _ = build_torch_model(spec["model"])
    net.eval()
    inputs, _ = make_inputs(spec["model"], spec["batch"])
    args = tuple(torch.from_numpy(v) for v in inputs.values())
    if spec["model"] not in VISION:
        class LastHiddenState(torch.nn.Module):
            def __init__(self, bert):
                super().__init__()
                self.bert = bert

            def forward(self, ids, mask):
                return self.bert(input_ids=ids, attention_mask=mask).last_hidden_state

        net = LastHiddenState(net)
    torch.onnx.export(net, args, spec["path"], opset_version=17, dynamo=False, input_names=list(inputs),
                      output_names=["output"])
    return {"weights": weights, "attention": attention}


def int8_onnx(spec):
    """The ONNX Runtime int8 model of spec["path"]: `quantize_static` (QDQ, per-channel s8 weights, u8 activations,
    min-max calibration on the timed inputs, as transfer-bench's int8 rows calibrate), written once beside it."""
    out = spec["path"][:-len(".onnx")] + ".ort-int8.onnx"
    if not os.path.exists(out):
        from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                              quantize_static)
        from onnxruntime.quantization.shape_inference import quant_pre_process
        inputs, _ = make_inputs(spec["model"], spec["batch"])

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.items = iter([inputs])

            def get_next(self):
                return next(self.items, None)

        prepared = spec["path"][:-len(".onnx")] + ".pre.onnx"
        quant_pre_process(spec["path"], prepared)
        quantize_static(prepared, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
    return out


def openvino_int8(spec):
    """The OpenVINO int8 model of spec["path"]: NNCF post-training quantisation (`nncf.quantize`, its default
    mixed preset; MiniLM as ModelType.TRANSFORMER) calibrated on the timed inputs, saved once beside it."""
    out = spec["path"][:-len(".onnx")] + ".nncf-int8.xml"
    if not os.path.exists(out):
        import nncf
        import openvino as ov
        model = ov.Core().read_model(spec["path"])
        inputs, _ = make_inputs(spec["model"], spec["batch"])
        kind = None if spec["model"] in VISION else nncf.ModelType.TRANSFORMER
        quantized = nncf.quantize(model, nncf.Dataset([inputs]), subset_size=1, model_type=kind)
        ov.save_model(quantized, out)
    return out


def run_onnxruntime(spec):
    import onnxruntime as ort
    if spec.get("precision") == "int8":
        spec = dict(spec, path=int8_onnx(spec))
    options = ort.SessionOptions()
    options.intra_op_num_threads = spec["threads"]
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(spec["path"], options, providers=["CPUExecutionProvider"])
    inputs, _ = make_inputs(spec["model"], spec["batch"])
    seconds = median_seconds(lambda: session.run(None, inputs), spec["repeats"])
    return {"seconds": seconds, "items": spec["batch"], "variant": "ORT_ENABLE_ALL"}


def run_openvino(spec):
    import openvino as ov
    hint, precision = spec["variant"], spec["precision"]
    path = openvino_int8(spec) if precision == "int8" else spec["path"]
    compiled = ov.Core().compile_model(path, "CPU", {
        "INFERENCE_NUM_THREADS": spec["threads"], "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
        "PERFORMANCE_HINT": hint})
    inputs, _ = make_inputs(spec["model"], spec["batch"])
    extra = {"execution_precision": compiled.get_property("INFERENCE_PRECISION_HINT").to_string()}
    if hint == "LATENCY":
        request = compiled.create_infer_request()
        seconds = median_seconds(lambda: request.infer(inputs), spec["repeats"])
        return {"seconds": seconds, "items": spec["batch"], "variant": hint, "extra": extra}
    # THROUGHPUT: each timed run pushes one full batch through each of the optimal number of parallel requests.
    requests = compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
    queue = ov.AsyncInferQueue(compiled, requests)

    def run():
        for _ in range(requests):
            queue.start_async(inputs)
        queue.wait_all()

    seconds = median_seconds(run, spec["repeats"])
    extra["infer_requests"] = requests
    return {"seconds": seconds, "items": spec["batch"] * requests, "variant": hint, "extra": extra}


def child(spec):
    result = {"export": run_export, "pytorch": run_pytorch, "onnxruntime": run_onnxruntime,
              "openvino": run_openvino}[spec["task"]](spec)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


# ---------------------------------------------------------------------------------------------------------------------
# Parent side: plans the measurements, runs each in a subprocess, keeps the fastest variant of each result.
# ---------------------------------------------------------------------------------------------------------------------


def spawn(spec):
    """Runs `spec` in a fresh interpreter; its parsed result, or None (logged) when it fails."""
    env = dict(os.environ, OMP_NUM_THREADS=str(spec["threads"]), MKL_NUM_THREADS=str(spec["threads"]))
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)], env=env,
                          stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        log(f"  failed (exit {proc.returncode})")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cpu_info():
    name, flags = "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and name == "unknown":
                    name = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return name, flags


def plan(model, peer, bf16):
    """(result name, precision, [variants], spec fields) of each measurement of `model` by `peer`."""
    if peer == "pytorch":
        variants = ["nchw", "channels_last"] if model in VISION else [None]
        return [(f"{model}_{mode}", "fp32", variants, {"mode": mode}) for mode in ("infer", "train", "train_top")] + (
            [(f"{model}_train_bf16", "bf16", variants, {"mode": "train_bf16"})] if bf16 else [])
    if peer == "onnxruntime":
        return [(f"{model}_infer", "fp32", [None], {}), (f"{model}_infer_int8", "int8", [None], {"precision": "int8"})]
    hints = ["LATENCY", "THROUGHPUT"]
    return [(f"{model}_infer", "fp32", hints, {"precision": "fp32"})] + (
        [(f"{model}_infer_bf16", "bf16", hints, {"precision": "bf16"})] if bf16 else []) + [
        (f"{model}_infer_int8", "int8", hints, {"precision": "int8"})]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--json", help="write the results here (otherwise a table goes to stdout)")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one timed run after the warm-up (smoke test)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(json.loads(args.child))

    models, peers = args.models.split(","), args.peers.split(",")
    unknown = set(models) - set(MODELS) | set(peers) - set(PEERS)
    if unknown:
        parser.error(f"unknown models or peers: {', '.join(sorted(unknown))}")
    repeats = 1 if args.quick else args.repeats
    cpu, flags = cpu_info()
    bf16 = bool(flags & {"avx512_bf16", "amx_bf16"})
    notes = [f"median of {repeats} timed run(s) after 1 warm-up; each measurement and variant in a fresh process"]
    load_before = os.getloadavg()[0]
    versions = {}
    for module in PEER_MODULES.values():
        try:
            versions[module] = importlib.metadata.version(module)
        except importlib.metadata.PackageNotFoundError:
            pass
    for peer in list(peers):
        missing = [m for m in {PEER_MODULES[peer], "torch"} if m not in versions]  # the ONNX exports need torch
        if missing:
            log(f"{peer}: skipped, {' and '.join(missing)} not installed")
            notes.append(f"{peer} skipped: {' and '.join(missing)} not installed")
            peers.remove(peer)
    if "openvino" in peers and not bf16:
        notes.append("openvino bf16 skipped: the CPU has neither avx512_bf16 nor amx_bf16")

    results = []
    base = {"threads": args.threads, "batch": args.batch, "repeats": repeats}
    with tempfile.TemporaryDirectory(prefix="tk-peers-") as tmp:
        for model in models:
            export = None
            for peer in peers:
                extra = {}
                if peer != "pytorch":
                    if export is None:
                        log(f"{model}: exporting to ONNX")
                        path = os.path.join(tmp, f"{model}.onnx")
                        export = spawn(dict(base, task="export", model=model, path=path)) or {}
                        export["path"] = path
                        if "weights" not in export:
                            notes.append(f"{model}: ONNX export failed; onnxruntime and openvino skipped")
                    if "weights" not in export:
                        continue
                    extra = {"path": export["path"]}
                for name, precision, variants, fields in plan(model, peer, bf16):
                    best = None
                    for variant in variants:
                        log(f"{name} {peer} {variant or ''}".rstrip())
                        out = spawn({**base, **extra, **fields, "task": peer, "model": model, "variant": variant})
                        if out is None:
                            notes.append(f"{name} {peer} {variant}: measurement failed")
                            continue
                        log(f"  {out['items'] / out['seconds']:.2f} items/s, peak RSS {out['peak_rss_mb']:.0f} MB")
                        if best is None or out["items"] / out["seconds"] > best["items"] / best["seconds"]:
                            best = out
                    if best is None:
                        continue
                    result = {"name": name, "peer": peer, "precision": precision,
                              "value": round(best["items"] / best["seconds"], 3),
                              "unit": "images/s" if model in VISION else "seq/s",
                              "peak_rss_mb": round(best["peak_rss_mb"], 1), "variant": best["variant"],
                              "weights": best.get("weights") or export["weights"]}
                    result.update(best.get("extra", {}))
                    results.append(result)
            if export and export.get("attention"):
                notes.append(f"{model}: ONNX export traced with the {export['attention']} attention")

    notes.append(f"1-minute load average {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "threads": args.threads, "batch": args.batch, "cpu": cpu, "versions": versions, "results": results,
              "notes": notes}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
    else:
        for r in results:
            print(f"{r['name']:<26} {r['peer']:<12} {r['precision']:<5} {r['value']:>9.2f} {r['unit']:<9} "
                  f"{r['peak_rss_mb']:>8.1f} MB  {r['variant']}")


if __name__ == "__main__":
    main()
