#!/usr/bin/env python3
"""The PyTorch peer of `transfer train` on BBC News with all-MiniLM-L6-v2, for the issue's proof: the same texts,
the same pretrained weights and the same sentence embedding, so that TransferKit's accuracy and speed can be set
beside PyTorch's on the same machine.

Run by hand in the tools venv (torch, transformers, scikit-learn; CI never runs it):
    /root/tkvenv/bin/python tools/pytorch_recipe_bbc_news.py --json
    /root/tkvenv/bin/python tools/pytorch_recipe_bbc_news.py --train DIR --test DIR --limit 3    # smoke test

Inputs:
  * --train / --test: text class folders (DIR/business/042.txt …; class = folder name, classes sorted, files read as
    UTF-8 with invalid bytes replaced, as TransferKit reads them), by default /tmp/proof/bbc-train and
    /tmp/proof/bbc-test;
  * the sentence-transformers all-MiniLM-L6-v2 folder ${TRANSFERKIT_CACHE:-~/.cache/transferkit}/minilm-l6
    (config.json, model.safetensors, tokenizer files), loaded with transformers' BertModel and BertTokenizerFast.

The embedding is the sentence-transformers recipe of that model: lower-cased WordPiece, at most 256 tokens ([CLS] and
[SEP] included), masked mean pooling of the last hidden states, L2 normalisation.

Recipes:
  features   frozen encoder in eval mode → 384-d embeddings of train and test → scikit-learn LogisticRegression
             (lbfgs, max_iter 1000) → test accuracy and macro F1.
  fine-tune  phase 1: a linear head 384→classes trained on the cached train embeddings (AdamW lr 10·--head-lr,
             weight decay 1e-4, one-cycle, --head-epochs, batch 32); phase 2: encoder.layer.4 and .5 (--lr) and the
             head (--head-lr) trained for --epochs on the texts (AdamW, weight decay 1e-2, one-cycle, batch 16, the
             unfrozen layers in train mode with their dropout, the frozen ones in eval mode). Then test accuracy and
             macro F1 on every test text. (`transfer train` fine-tunes vision backbones only; for text this is the
             PyTorch reference of what fine-tuning the top layers would add.)

With --json the last line of stdout is one JSON object (accuracies, macro F1, seconds per phase, texts/s).
"""
import argparse
import json
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from transformers import BertModel, BertTokenizerFast

from recipe_common import list_class_folder, log, one_cycle, scores, seed_everything

CACHE = os.environ.get("TRANSFERKIT_CACHE", os.path.expanduser("~/.cache/transferkit"))
MODEL_DIR = os.path.join(CACHE, "minilm-l6")
MAX_TOKENS = 256
EMBED_BATCH = 32
HEAD_BATCH = 32
FINE_TUNE_BATCH = 16
UNFROZEN_LAYERS = (4, 5)


# ---------------------------------------------------------------------------------------------------------------------
# Data and embedding
# ---------------------------------------------------------------------------------------------------------------------


def read_texts(root, limit):
    """(texts, labels, class names) of a text class folder (one .txt per article)."""
    paths, labels, classes = list_class_folder(root, limit, ".txt")
    texts = []
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as fh:
            texts.append(fh.read())
    return texts, labels, classes


def tokenize(tokenizer, texts):
    """Token ids of each text, truncated to MAX_TOKENS ([CLS] … [SEP]), unpadded."""
    return tokenizer(texts, truncation=True, max_length=MAX_TOKENS)["input_ids"]


def collate(ids, idx, pad_id):
    """input_ids and attention_mask [B, L] of the texts `idx`, padded to the longest of them."""
    rows = [ids[i] for i in idx]
    length = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for j, r in enumerate(rows):
        input_ids[j, :len(r)] = torch.tensor(r)
        mask[j, :len(r)] = 1
    return input_ids, mask


def embed(model, input_ids, mask):
    """Masked mean of the last hidden states, L2-normalised: [B, 384]."""
    hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
    m = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return F.normalize(pooled, p=2, dim=1)


@torch.no_grad()
def embed_all(model, ids, pad_id):
    """Embeddings of every text, in order; batched by token length (padding changes nothing, it only costs time)."""
    model.eval()
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = torch.empty(len(ids), model.config.hidden_size)
    for i in range(0, len(order), EMBED_BATCH):
        idx = order[i:i + EMBED_BATCH]
        out[idx] = embed(model, *collate(ids, idx, pad_id))
    return out.numpy()


# ---------------------------------------------------------------------------------------------------------------------
# Recipes
# ---------------------------------------------------------------------------------------------------------------------


def recipe_features(args, model, pad_id, train_x, train_y, test_ids, test_y, train_seconds):
    t0 = time.perf_counter()
    test_x = embed_all(model, test_ids, pad_id)
    test_seconds = time.perf_counter() - t0
    log(f"features: {len(test_y)} test texts in {test_seconds:.1f} s")
    t1 = time.perf_counter()
    classifier = LogisticRegression(C=args.C, max_iter=1000).fit(train_x, train_y)
    fit_seconds = time.perf_counter() - t1
    result = scores(test_y, classifier.predict(test_x))
    n = len(train_y) + len(test_y)
    result.update({
        "embedding_seconds": train_seconds + test_seconds,
        "embedding_texts_per_second": n / (train_seconds + test_seconds),
        "fit_seconds": fit_seconds,
        "total_seconds": train_seconds + test_seconds + fit_seconds,
    })
    log(f"features: accuracy {result['accuracy']:.4f}, macro F1 {result['macro_f1']:.4f}, "
        f"{result['embedding_texts_per_second']:.1f} texts/s embedding, logistic regression {fit_seconds:.1f} s")
    return result


def recipe_fine_tune(args, model, pad_id, train_ids, train_x, train_y, test_ids, test_y, num_classes, train_seconds):
    generator = torch.Generator().manual_seed(args.seed)
    head = nn.Linear(model.config.hidden_size, num_classes)

    # Phase 1: the head on the cached train embeddings.
    t0 = time.perf_counter()
    xs, ys = torch.from_numpy(train_x), torch.from_numpy(train_y)
    opt = torch.optim.AdamW(head.parameters(), lr=args.head_lr * 10, weight_decay=1e-4)
    sched = one_cycle(opt, args.head_lr * 10, args.head_epochs * ((len(ys) + HEAD_BATCH - 1) // HEAD_BATCH))
    for _ in range(args.head_epochs):
        order = torch.randperm(len(ys), generator=generator)
        for i in range(0, len(order), HEAD_BATCH):
            idx = order[i:i + HEAD_BATCH]
            loss = F.cross_entropy(head(xs[idx]), ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    head_seconds = time.perf_counter() - t0
    log(f"fine-tune: head phase {args.head_epochs} epochs in {head_seconds:.1f} s, last batch loss {loss.item():.4f}")

    # Phase 2: the top encoder layers and the head, on the texts.
    layers = [model.encoder.layer[i] for i in UNFROZEN_LAYERS]
    for p in model.parameters():
        p.requires_grad_(False)
    encoder_params = [p for layer in layers for p in layer.parameters()]
    for p in encoder_params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW([{"params": encoder_params, "lr": args.lr}, {"params": list(head.parameters()),
                                                                          "lr": args.head_lr}], weight_decay=1e-2)
    steps = args.epochs * ((len(train_y) + FINE_TUNE_BATCH - 1) // FINE_TUNE_BATCH)
    sched = one_cycle(opt, [args.lr, args.head_lr], steps)
    log(f"fine-tune: unfrozen {', '.join(f'encoder.layer.{i}' for i in UNFROZEN_LAYERS)} (lr {args.lr:.1e}) "
        f"+ head (lr {args.head_lr:.1e})")

    t1 = time.perf_counter()
    for epoch in range(args.epochs):
        model.eval()
        for layer in layers:
            layer.train()  # dropout in the trained layers only
        total, e0 = 0.0, time.perf_counter()
        order = torch.randperm(len(train_y), generator=generator).tolist()
        for i in range(0, len(order), FINE_TUNE_BATCH):
            idx = order[i:i + FINE_TUNE_BATCH]
            y = torch.as_tensor(train_y[idx])
            loss = F.cross_entropy(head(embed(model, *collate(train_ids, idx, pad_id))), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        log(f"fine-tune: epoch {epoch + 1}/{args.epochs} loss {total / len(order):.4f} "
            f"({time.perf_counter() - e0:.1f} s)")
    train_phase_seconds = time.perf_counter() - t1

    t2 = time.perf_counter()
    with torch.no_grad():
        pred = head(torch.from_numpy(embed_all(model, test_ids, pad_id))).argmax(1).numpy()
    eval_seconds = time.perf_counter() - t2
    result = scores(test_y, pred)
    result.update({
        "train_embedding_seconds": train_seconds,
        "head_seconds": head_seconds,
        "fine_tune_seconds": train_phase_seconds,
        "fine_tune_texts_per_second": args.epochs * len(train_y) / train_phase_seconds,
        "eval_seconds": eval_seconds,
        "eval_texts_per_second": len(test_y) / eval_seconds,
        "total_seconds": train_seconds + head_seconds + train_phase_seconds + eval_seconds,
    })
    log(f"fine-tune: accuracy {result['accuracy']:.4f}, macro F1 {result['macro_f1']:.4f}, training "
        f"{train_phase_seconds:.1f} s ({result['fine_tune_texts_per_second']:.1f} texts/s), evaluation "
        f"{eval_seconds:.1f} s ({result['eval_texts_per_second']:.1f} texts/s)")
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", default="/tmp/proof/bbc-train")
    ap.add_argument("--test", default="/tmp/proof/bbc-test")
    ap.add_argument("--recipe", choices=["features", "fine-tune", "both"], default="both")
    ap.add_argument("--limit", type=int, default=None, help="at most N texts per class, train and test (smoke tests)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--C", type=float, default=1.0, help="inverse regularisation of the logistic regression")
    ap.add_argument("--lr", type=float, default=1e-4, help="learning rate of the unfrozen encoder layers")
    ap.add_argument("--head-lr", type=float, default=1e-3, help="learning rate of the head in fine-tuning "
                                                                 "(the head phase uses 10×)")
    ap.add_argument("--head-epochs", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs on texts")
    ap.add_argument("--json", action="store_true", help="print one JSON object of results on stdout")
    args = ap.parse_args()

    seed_everything(args.threads, args.seed)

    train_texts, train_y, classes = read_texts(args.train, args.limit)
    test_texts, test_y, test_classes = read_texts(args.test, args.limit)
    assert classes == test_classes, f"train classes {classes} differ from test classes {test_classes}"
    log(f"{len(train_texts)} train and {len(test_texts)} test texts, {len(classes)} classes, {args.threads} threads")

    t_start = time.perf_counter()
    tokenizer = BertTokenizerFast.from_pretrained(MODEL_DIR)
    model = BertModel.from_pretrained(MODEL_DIR).eval()  # its pooler is unused
    pad_id = tokenizer.pad_token_id
    t0 = time.perf_counter()
    train_ids, test_ids = tokenize(tokenizer, train_texts), tokenize(tokenizer, test_texts)
    log(f"tokenized in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    train_x = embed_all(model, train_ids, pad_id)  # shared by both recipes (the fine-tune head phase uses it)
    train_seconds = time.perf_counter() - t0
    log(f"features: {len(train_y)} train texts in {train_seconds:.1f} s ({len(train_y) / train_seconds:.1f} texts/s)")

    results = {"train_texts": len(train_y), "test_texts": len(test_y), "classes": classes,
               "threads": args.threads, "seed": args.seed}
    if args.recipe in ("features", "both"):
        results["features"] = recipe_features(args, model, pad_id, train_x, train_y, test_ids, test_y, train_seconds)
    if args.recipe in ("fine-tune", "both"):  # last: it trains `model` in place
        results["fine_tune"] = recipe_fine_tune(args, model, pad_id, train_ids, train_x, train_y, test_ids, test_y,
                                                len(classes), train_seconds)
    results["total_seconds"] = time.perf_counter() - t_start
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
