#!/usr/bin/env bash
# LoRA proof of docs/lora-and-multitask.md, through the real CLI: MiniLM on BBC News (20 articles per class, test = the
# rest) and EfficientNet-Lite0 on Fashion-MNIST (100 train images per class, test = the 1,000 official test images of
# the demo), each with --strategy lora, fine-tune (top groups) and full; then `transfer lora merge` and the merged
# bundle's predictions against the unmerged one's. Few epochs (TEXT_EPOCHS, IMAGE_EPOCHS) to stay affordable.
# usage: tools/lora_proof.sh WORKDIR   (writes WORKDIR/lora-*.json and merge-*.json)
set -euo pipefail
W=${1:?usage: lora_proof.sh WORKDIR}
T=${TRANSFER:-$(cd "$(dirname "$0")/.." && pwd)/.build/release/transfer}
TE=${TEXT_EPOCHS:-5}
IE=${IMAGE_EPOCHS:-3}
mkdir -p "$W" && cd "$W"
[ -d bbc-train ] || "$T" datasets export bbc-news --per-class 20 --out bbc-train --rest bbc-rest --seed 0 >/dev/null
[ -d fm-train ] || "$T" datasets export fashion-mnist --split train --per-class 100 --out fm-train --seed 0 >/dev/null
[ -d fm-test ] || "$T" datasets export fashion-mnist --split test --per-class 100 --out fm-test --seed 0 >/dev/null
summary() { /opt/torchvenv/bin/python -c "import json,sys; j=json.load(open(sys.argv[1])); print(sys.argv[1], 'test acc', j['test']['accuracy'], 'trainable', j['trainable_parameters'], 'of', j['total_parameters'], 'adapter bytes', j.get('adapter_bytes'), 'seconds', round(j['seconds']))" "$1"; }
for s in lora fine-tune full; do
  "$T" train --model minilm-l6 --data bbc-train --test bbc-rest --strategy "$s" --epochs "$TE" --batch-size 8 --seed 0 \
    --out "text-$s.transferkit" --json > "lora-text-$s.json"
  summary "lora-text-$s.json"
done
for s in lora fine-tune full; do
  "$T" train --model efficientnet-lite0 --data fm-train --test fm-test --strategy "$s" --epochs "$IE" --batch-size 32 --seed 0 \
    --out "image-$s.transferkit" --json > "lora-image-$s.json"
  summary "lora-image-$s.json"
done
# Merged against unmerged: evaluation on the whole test set, and the probabilities of 100 test images / 40 articles.
"$T" lora merge text-lora.transferkit --out text-merged.transferkit --json > merge-text.json
"$T" lora merge image-lora.transferkit --out image-merged.transferkit --json > merge-image.json
for m in image-lora image-merged; do "$T" evaluate --model "$m.transferkit" --data fm-test --json > "eval-$m.json"; done
for m in text-lora text-merged; do "$T" evaluate --model "$m.transferkit" --data bbc-rest --json > "eval-$m.json"; done
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
    ea, eb = (json.load(open(f"eval-{kind}-{m}.json"))["accuracy"] for m in ["lora", "merged"])
    print(f"{kind}: {len(a)} inputs, max |Δp| {d:.3g}, same top-1 {same}/{len(a)}; test accuracy unmerged {ea} merged {eb}")
PY
