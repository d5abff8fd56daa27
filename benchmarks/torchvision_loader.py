#!/usr/bin/env python3
"""The torchvision peer of transfer-bench's `loader_images_per_s` (run by the bench when torchvision is importable).

    python benchmarks/torchvision_loader.py --data DIR [--workers 2] [--batch-size 32] [--epochs 3] [--warmup 1]

The same pipeline as the Swift loader on the same image folder: `ImageFolder` (PIL decode, `convert("RGB")`),
`Resize(256)`, `RandomResizedCrop(224)`, `RandomHorizontalFlip()`, `ToTensor()`, ImageNet `Normalize`, batched by a
`DataLoader` with `--workers` worker processes (persistent across epochs), shuffled. After `--warmup` untimed
epochs, each of `--epochs` epochs is timed from the first `next()` to the last batch; prints one JSON object with the
median images per second.
"""
import argparse
import json
import statistics
import time

import torch
import torchvision
from torch.utils.data import DataLoader
from torchvision import datasets, transforms


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()

    torch.manual_seed(0)
    pipeline = transforms.Compose([
        transforms.Resize(256),
        transforms.RandomResizedCrop(224),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])
    dataset = datasets.ImageFolder(args.data, transform=pipeline)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                        persistent_workers=args.workers > 0, drop_last=False)
    rates = []
    for epoch in range(args.warmup + args.epochs):
        start = time.perf_counter()
        seen = 0
        for images, _ in loader:
            seen += images.shape[0]
        elapsed = time.perf_counter() - start
        if epoch >= args.warmup:
            rates.append(seen / elapsed)
    print(json.dumps({
        "images_per_s": statistics.median(rates),
        "epochs": rates,
        "images": len(dataset),
        "workers": args.workers,
        "batch_size": args.batch_size,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
    }))


if __name__ == "__main__":
    main()
