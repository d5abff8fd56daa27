#!/usr/bin/env python3
"""Writes Tests/AssetsTests/Fixtures/sample.whl: a tiny zip with deflated and stored entries, laid out like a
wheel that ships weights. Run by hand with any Python 3; CI never runs it."""
import os
import zipfile

path = os.path.join(os.path.dirname(__file__), "..", "Tests", "AssetsTests", "Fixtures", "sample.whl")
with zipfile.ZipFile(path, "w") as z:
    z.writestr(zipfile.ZipInfo("pkg/models/weights.txt"), ("weights " * 400).encode(), compress_type=zipfile.ZIP_DEFLATED)
    z.writestr(zipfile.ZipInfo("pkg/model/config.json"), b'{"hidden_size": 8}', compress_type=zipfile.ZIP_DEFLATED)
    z.writestr(zipfile.ZipInfo("pkg/data/stored.bin"), bytes(range(256)), compress_type=zipfile.ZIP_STORED)
