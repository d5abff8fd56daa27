#!/usr/bin/env bash
# LoRA proof of docs/lora-and-multitask.md, through the real CLI: EfficientNet-Lite0 on Fashion-MNIST (100 train images
# per class, test = the 1,000 official test images of the demo) and MiniLM on BBC News (20 articles per class; test =
# the first TEXT_TEST_PER_CLASS articles per class of the rest, all of the rest when 0), each with --strategy lora,
# fine-tune (top groups) and full; then `transfer lora merge` and the merged bundle's predictions and test accuracy
# against the unmerged one's. Few epochs (TEXT_EPOCHS, IMAGE_EPOCHS) to stay affordable on a shared 2-core machine.
# usage: tools/lora_proof.sh WORKDIR   (writes WORKDIR/lora-*.json and merge-*.json)
set -euo pipefail
W=${1:?usage: lora_proof.sh WORKDIR}
T=${TRANSFER:-$(cd "$(dirname "$0")/.." && pwd)/.build/release/transfer}
TE=${TEXT_EPOCHS:-2}
IE=${IMAGE_EPOCHS:-2}
TT=${TEXT_TEST_PER_CLASS:-100}
PARTS=${PARTS:-image text merge}
mkdir -p "$W" && cd "$W"
[ -d bbc-train ] || "$T" datasets export bbc-news --per-class 20 --out bbc-train --rest bbc-rest --seed 0 >/dev/null
[ -d fm-train ] || "$T" datasets export fashion-mnist --split train --per-class 100 --out fm-train --seed 0 >/dev/null
[ -d fm-test ] || "$T" datasets export fashion-mnist --split test --per-class 100 --out fm-test --seed 0 >/dev/null
if [ ! -d bbc-test ]; then
  for c in bbc-rest/*; do
    mkdir -p "bbc-test/$(basename "$c")"
    ls "$c" | sort | { if [ "$TT" -gt 0 ]; then head -n "$TT"; else cat; fi; } | while read -r f; do cp "$c/$f" "bbc-test/$(basename "$c")/"; done
  done
fi
summary() { /opt/torchvenv/bin/python -c "import json,sys; j=json.load(open(sys.argv[1])); print(sys.argv[1], 'test acc', j['test']['accuracy'], 'trainable', j['trainable_parameters'], 'of', j['total_parameters'], 'adapter bytes', j.get('adapter_bytes'), 'seconds', round(j['seconds']))" "$1"; }
[[ " $PARTS " == *" image "* ]] && for s in lora fine-tune full; do
  "$T" train --model efficientnet-lite0 --data fm-train --test fm-test --strategy "$s" --epochs "$IE" --batch-size 32 --seed 0 \
    --out "image-$s.transferkit" --json > "lora-image-$s.json"
  summary "lora-image-$s.json"
done
[[ " $PARTS " == *" text "* ]] && for s in lora fine-tune full; do
  "$T" train --model minilm-l6 --data bbc-train --test bbc-test --strategy "$s" --epochs "$TE" --batch-size 8 --seed 0 \
    --out "text-$s.transferkit" --json > "lora-text-$s.json"
  summary "lora-text-$s.json"
done
[[ " $PARTS " == *" merge "* ]] || exit 0
# Merged against unmerged: the merged bundle's test accuracy (the unmerged one's is in lora-*-lora.json), and the
# probabilities of 100 test images / 40 articles from both.
"$T" lora merge image-lora.transferkit --out image-merged.transferkit --json > merge-image.json
"$T" lora merge text-lora.transferkit --out text-merged.transferkit --json > merge-text.json
"$T" evaluate --model image-merged.transferkit --data fm-test --json > eval-image-merged.json
"$T" evaluate --model text-merged.transferkit --data bbc-test --json > eval-text-merged.json
IMGS=$(for c in fm-test/*; do ls "$c" | head -10 | sed "s|^|$c/|"; done)
for m in image-lora image-merged; do "$T" predict --model "$m.transferkit" $IMGS --top-k 10 --json > "pred-$m.json"; done
mapfile -t TEXTS < <(for c in bbc-rest/*; do for f in $(ls "$c" | head -8); do head -c 600 "$c/$f" | tr '\n' ' '; echo; done; done)
for m in text-lora text-merged; do "$T" predict --model "$m.transferkit" --text "${TEXTS[@]}" --top-k 5 --json > "pred-$m.json"; done
/opt/torchvenv/bin/python - <<'PY'
import json
for kind in ["image", "text"]:
    a, b = (json.load(open(f"pred-{kind}-{m}.json")) for m in ["lora", "merged"])
    d = max(abs(x["probability"] - {t["label"]: t["probability"] for t in q["top"]}[x["label"]])
            for p, q in zip(a, b) for x in p["top"])
    same = sum(p["top"][0]["label"] == q["top"][0]["label"] for p, q in zip(a, b))
    ea, eb = json.load(open(f"lora-{kind}-lora.json"))["test"]["accuracy"], json.load(open(f"eval-{kind}-merged.json"))["accuracy"]
    print(f"{kind}: {len(a)} inputs, max |Δp| {d:.3g}, same top-1 {same}/{len(a)}; test accuracy unmerged {ea} merged {eb}")
PY
