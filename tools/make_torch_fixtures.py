#!/usr/bin/env python3
"""Writes the PyTorch-checkpoint fixtures of Tests/CheckpointsTests/Fixtures/ (TorchCheckpointTests).

Run by hand with a Python that has torch (CI never runs it):

    /root/tkvenv/bin/python tools/make_torch_fixtures.py

Valid checkpoints (a few KB each), with their expected contents in torch_expected.json:
  torch_zip.pt        zip format (torch.save default), {"state_dict": sd, "epoch": 7, "arch": "tiny"}
  torch_legacy.pt     the same object in the legacy format (_use_new_zipfile_serialization=False)
  torch_proto5.pt     zip format, pickle protocol 5 (FRAME, MEMOIZE, STACK_GLOBAL, ...), sd itself at the top
  torch_zip64.pt      torch_zip.pt rewritten with zip64 records (as torch writes archives over 4 GiB); checked
                      here with torch.load
sd holds float32, float16, bfloat16, float64, int64 (num_batches_tracked), int32, uint8 and bool tensors, a
scalar, an empty tensor, an nn.Parameter, a transposed (non-contiguous) view saved as is, an expanded (stride 0)
view, two views sharing one storage, a nested dict (flattened to "sub.w") and a non-tensor value ("version").

Hostile or broken files, which must be rejected with a typed error (this script writes their bytes and never
loads them):
  hostile_os_system.pt     legacy container; the state-dict pickle calls os.system via GLOBAL + REDUCE
  hostile_os_system_zip.pt the same pickle as data.pkl of a zip archive
  hostile_eval.pt          zip; builtins.eval via STACK_GLOBAL (protocol 4) + REDUCE
  hostile_popen.pt         zip; valid tensors, then subprocess.Popen via GLOBAL + NEWOBJ inside the state dict
  hostile_storage_size.pt  legacy; a storage's element count field says 2**40 elements
  hostile_zip_numel.pt     zip; a persistent id declares 10**12 elements over a 24-byte record
  hostile_huge_shape.pt    zip; _rebuild_tensor_v2 with size (2**31, 2**31, 2**31)
  hostile_expanded.pt      zip; size (2**30,) with stride (0,) over a one-element storage
  compressed_zip.pt        torch_zip.pt re-zipped with deflate
  truncated_zip.pt         the first 60% of torch_zip.pt
  truncated_legacy.pt      torch_legacy.pt without its last 10 bytes (cut inside the storage data)

With --real PATH (default: the cache path of the EfficientNet-Lite0 weights, when present) it also writes
efficientnet_lite0_expected.json: facts and a few values of the real checkpoint, as torch.load gives them.
"""

import argparse
import collections
import hashlib
import io
import json
import os
import pickle
import struct
import zipfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "Tests", "CheckpointsTests", "Fixtures")


def path(name):
    return os.path.join(OUT, name)


def write(name, data):
    with open(path(name), "wb") as f:
        f.write(data)
    print(f"wrote {name} ({len(data)} bytes)")


def values(t):
    return [float(x) for x in t.detach().reshape(-1).to(torch.float32).tolist()]


def state_dict():
    g = torch.Generator().manual_seed(0)
    base = torch.arange(12, dtype=torch.float32) * 0.5 - 2
    sd = collections.OrderedDict()
    sd["linear.weight"] = torch.randn(3, 4, generator=g)
    sd["linear.bias"] = torch.randn(3, generator=g).half()
    sd["bn.num_batches_tracked"] = torch.tensor(1234, dtype=torch.int64)
    sd["bn.running_mean"] = torch.randn(4, generator=g).to(torch.bfloat16)
    sd["double"] = torch.tensor([1.0 / 3.0, -2.5, 1e-3], dtype=torch.float64)
    sd["ids"] = torch.tensor([[-7, 0], [3, 2**20]], dtype=torch.int32)
    sd["bytes"] = torch.tensor([0, 1, 255], dtype=torch.uint8)
    sd["mask"] = torch.tensor([True, False, True])
    sd["scalar"] = torch.tensor(3.25)
    sd["empty"] = torch.zeros(0, 5)
    sd["param"] = torch.nn.Parameter(torch.randn(2, 2, generator=g))
    sd["transposed"] = torch.randn(4, 3, generator=g).t()  # shape (3, 4), strides (1, 3): saved as is
    sd["expanded"] = torch.tensor([1.5, -1.0, 2.0]).expand(2, 3)  # stride (0, 1)
    sd["shared.a"] = base[:6].view(2, 3)  # two views of one storage
    sd["shared.b"] = base[5:11:2]  # offset 5, stride 2
    sd["sub"] = {"w": torch.tensor([[9.0, 8.0]])}  # nested dict: flattened to "sub.w"
    sd["version"] = 2  # not a tensor: skipped
    assert not sd["transposed"].is_contiguous()
    assert sd["shared.a"].untyped_storage().data_ptr() == sd["shared.b"].untyped_storage().data_ptr()
    return sd


def expected(sd, prefix=""):
    out = collections.OrderedDict()
    for k, v in sd.items():
        if isinstance(v, torch.Tensor):
            out[prefix + k] = {"dtype": str(v.dtype), "shape": list(v.shape), "values": values(v)}
        elif isinstance(v, dict):
            out.update(expected(v, prefix + k + "."))
    return out


def save(obj, **kwargs):
    b = io.BytesIO()
    torch.save(obj, b, **kwargs)
    return b.getvalue()


def rezip(data, compression):
    src = zipfile.ZipFile(io.BytesIO(data))
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", compression=compression) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    return b.getvalue()


def zip64(data):
    """data (a stored zip) rewritten with zip64 central-directory entries and end records."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = bytearray()
    central = bytearray()
    for info in src.infolist():
        body = src.read(info.filename)
        name = info.filename.encode()
        crc = zipfile.crc32(body)
        offset = len(out)
        extra = struct.pack("<HHQQ", 1, 16, len(body), len(body))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                           len(name), len(extra)) + name + extra + body
        cextra = struct.pack("<HHQQQ", 1, 24, len(body), len(body), offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF,
                               0xFFFFFFFF, len(name), len(cextra), 0, 0, 0, 0, 0xFFFFFFFF) + name + cextra
    cd_offset = len(out)
    out += central
    eocd64 = len(out)
    n = len(src.infolist())
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(central), cd_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, eocd64, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return bytes(out)


def zip_of(pickle_bytes, storages):
    """A torch-style stored zip archive with data.pkl and data/KEY records."""
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickle_bytes)
        z.writestr("archive/byteorder", "little")
        for key, data in storages.items():
            z.writestr(f"archive/data/{key}", data)
        z.writestr("archive/version", "3\n")
    return b.getvalue()


class Storage:
    """Pickled by persistent id as the given tuple."""

    def __init__(self, pid):
        self.pid = pid


class Rebuild:
    """Pickled as a call of torch._utils._rebuild_tensor_v2 with the given arguments (never called here)."""

    def __init__(self, *args):
        self.args = args

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class PidPickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, Storage) else None


def crafted_zip(tensors, storages):
    b = io.BytesIO()
    PidPickler(b, protocol=2).dump(tensors)
    return zip_of(b.getvalue(), storages)


def legacy_header():
    """The first three pickles of the legacy format: magic number, protocol version, sys info."""
    b = io.BytesIO()
    for obj in (0x1950A86A20F9469CFC6C, 1001,
                {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 8}}):
        pickle.dump(obj, b, protocol=2)
    return b.getvalue()


def hostile():
    # {'w': os.system('echo pwned')}: PROTO 2, EMPTY_DICT, 'w', GLOBAL os system, 'echo pwned', TUPLE1, REDUCE,
    # SETITEM, STOP.
    os_system = b"\x80\x02}X\x01\x00\x00\x00w" + b"cos\nsystem\n" + b"X\x0a\x00\x00\x00echo pwned\x85R" + b"s."
    # Protocol 4: {'w': builtins.eval("__import__('os')")} through STACK_GLOBAL, with MEMOIZE after each value.
    evil_eval = (b"\x80\x04}\x94\x8c\x01w\x94"
                 b"\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94\x8c\x10__import__('os')\x94\x85\x94R\x94s.")
    # A valid tensor first, then {'evil': subprocess.Popen('id')} through GLOBAL + NEWOBJ.
    b = io.BytesIO()
    st = Storage(("storage", torch.FloatStorage, "0", "cpu", 2))
    PidPickler(b, protocol=2).dump({"ok": Rebuild(st, 0, (2,), (1,), False, collections.OrderedDict())})
    ok = b.getvalue()
    assert ok.endswith(b"s.")
    popen = ok[:-1] + b"X\x04\x00\x00\x00evil" + b"csubprocess\nPopen\n" + b"X\x02\x00\x00\x00id\x85\x81" + b"s."
    for p in (os_system, evil_eval, popen):
        check_opcodes(p)

    write("hostile_os_system.pt", legacy_header() + os_system + pickle.dumps([], protocol=2))
    write("hostile_os_system_zip.pt", zip_of(os_system, {}))
    write("hostile_eval.pt", zip_of(evil_eval, {}))
    write("hostile_popen.pt", zip_of(popen, {"0": struct.pack("<2f", 1, 2)}))

    # Legacy: the element count field of the first storage says 2**40 elements.
    data = bytearray(open(path("torch_legacy.pt"), "rb").read())
    f = io.BytesIO(bytes(data))
    for _ in range(4):
        skip_pickle(f)
    keys = pickle.Unpickler(f).load()  # a list of strings, from our own fixture
    at = f.tell()  # the first storage's count field
    first = struct.unpack_from("<q", data, at)[0]
    assert first >= 0
    struct.pack_into("<q", data, at, 2**40)
    write("hostile_storage_size.pt", bytes(data))
    print(f"  (storage '{keys[0]}' count {first} -> 2**40)")

    st = Storage(("storage", torch.FloatStorage, "0", "cpu", 10**12))
    write("hostile_zip_numel.pt",
          crafted_zip({"w": Rebuild(st, 0, (6,), (1,), False, collections.OrderedDict())}, {"0": bytes(24)}))
    st = Storage(("storage", torch.FloatStorage, "0", "cpu", 6))
    write("hostile_huge_shape.pt",
          crafted_zip({"w": Rebuild(st, 0, (2**31,) * 3, (1, 1, 1), False, collections.OrderedDict())},
                      {"0": bytes(24)}))
    st = Storage(("storage", torch.FloatStorage, "0", "cpu", 1))
    write("hostile_expanded.pt",
          crafted_zip({"w": Rebuild(st, 0, (2**30,), (0,), False, collections.OrderedDict())}, {"0": bytes(4)}))

    z = open(path("torch_zip.pt"), "rb").read()
    write("compressed_zip.pt", rezip(z, zipfile.ZIP_DEFLATED))
    write("truncated_zip.pt", z[: len(z) * 6 // 10])
    legacy = open(path("torch_legacy.pt"), "rb").read()
    write("truncated_legacy.pt", legacy[:-10])


def check_opcodes(data):
    """Checks that data is one well-formed pickle, by parsing its opcodes only (nothing is loaded)."""
    import pickletools

    ops = list(pickletools.genops(data))
    assert ops[-1][0].name == "STOP" and ops[-1][2] == len(data) - 1, ops[-1]


def skip_pickle(f):
    """Advances f past one pickle without unpickling it (pickletools only parses opcodes)."""
    import pickletools

    for op, _, _ in pickletools.genops(f):
        if op.name == "STOP":
            return
    raise ValueError("no STOP")


def real(pth, out_name):
    sd = torch.load(pth, map_location="cpu", weights_only=True)
    digest = hashlib.sha256(open(pth, "rb").read()).hexdigest()
    facts = collections.OrderedDict()
    facts["file"] = os.path.basename(pth)
    facts["sha256"] = digest
    facts["size_bytes"] = os.path.getsize(pth)
    facts["entries"] = len(sd)
    facts["elements"] = sum(t.numel() for t in sd.values())
    facts["int64_entries"] = sum(1 for t in sd.values() if t.dtype == torch.int64)
    facts["first_keys"] = list(sd.keys())[:5]
    facts["last_key"] = list(sd.keys())[-1]
    facts["shapes"] = {k: list(sd[k].shape) for k in
                       ["_conv_stem.weight", "_fc.weight", "_fc.bias", "_conv_head.weight",
                        "_blocks.1._depthwise_conv.weight", "_bn0.num_batches_tracked"]}
    facts["non_contiguous"] = sum(1 for t in sd.values() if not t.is_contiguous())
    facts["values"] = {
        "_conv_stem.weight[0]": values(sd["_conv_stem.weight"][0]),
        "_fc.bias[:10]": values(sd["_fc.bias"][:10]),
        "_conv_head.weight[0,:8,0,0]": values(sd["_conv_head.weight"][0, :8, 0, 0]),
        "_blocks.1._depthwise_conv.weight[5,0]": values(sd["_blocks.1._depthwise_conv.weight"][5, 0]),
        "_bn0.num_batches_tracked": values(sd["_bn0.num_batches_tracked"]),
    }
    facts["sums"] = {k: float(sd[k].double().sum()) for k in ["_conv_stem.weight", "_fc.weight", "_bn1.running_var"]}
    with open(path(out_name), "w") as f:
        json.dump(facts, f, indent=1)
        f.write("\n")
    print(f"wrote {out_name} (entries {facts['entries']}, elements {facts['elements']})")


def main():
    cache = os.environ.get("TRANSFERKIT_CACHE", os.path.expanduser("~/.cache/transferkit"))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", default=os.path.join(cache, "efficientnet-lite0", "efficientnet-lite0-57934424.pth"))
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)

    sd = state_dict()
    nested = {"state_dict": sd, "epoch": 7, "arch": "tiny"}
    write("torch_zip.pt", save(nested))
    write("torch_legacy.pt", save(nested, _use_new_zipfile_serialization=False))
    write("torch_proto5.pt", save(sd, pickle_protocol=5))
    z64 = zip64(open(path("torch_zip.pt"), "rb").read())
    write("torch_zip64.pt", z64)

    # Check the files against torch itself (these are our own files, so loading them is safe).
    exp = expected(sd)
    for name in ["torch_zip.pt", "torch_legacy.pt", "torch_zip64.pt", "torch_proto5.pt"]:
        loaded = torch.load(path(name), weights_only=False)  # our own files (weights_only rejects FRAME)
        loaded = loaded if name == "torch_proto5.pt" else loaded["state_dict"]
        assert expected(loaded) == exp, name
    with open(path("torch_expected.json"), "w") as f:
        json.dump({"keys": list(exp.keys()), "tensors": exp, "skipped": ["version"]}, f, indent=1)
        f.write("\n")
    print("wrote torch_expected.json")

    hostile()

    if os.path.exists(args.real):
        real(args.real, "efficientnet_lite0_expected.json")
    else:
        print(f"skipped efficientnet_lite0_expected.json: {args.real} is absent")


if __name__ == "__main__":
    main()
