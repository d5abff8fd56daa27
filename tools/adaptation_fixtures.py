"""Golden fixtures for the Adaptation tests: Deep CORAL loss and its gradients, and TLlib's MCC loss and its gradient,
computed by PyTorch on small seeded inputs. Run once: /opt/torchvenv/bin/python tools/adaptation_fixtures.py
Writes Tests/AdaptationTests/Fixtures/adaptation.json."""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(17)
torch.set_default_dtype(torch.float64)


def coral_loss(source, target):
    # Sun & Saenko 2016, Deep CORAL: ||C_S - C_T||_F^2 / (4 d^2), covariances divided by n - 1.
    d = source.shape[1]
    cs, ct = torch.cov(source.T), torch.cov(target.T)
    return ((cs - ct) ** 2).sum() / (4 * d * d)


def entropy(p):
    # tllib.modules.entropy.entropy(reduction='none')
    return (-p * torch.log(p + 1e-5)).sum(dim=1)


def mcc_loss(logits, temperature=2.5):
    # tllib.self_training.mcc.MinimumClassConfusionLoss.forward, verbatim.
    batch_size, num_classes = logits.shape
    predictions = F.softmax(logits / temperature, dim=1)
    entropy_weight = entropy(predictions).detach()
    entropy_weight = 1 + torch.exp(-entropy_weight)
    entropy_weight = (batch_size * entropy_weight / torch.sum(entropy_weight)).unsqueeze(dim=1)
    class_confusion_matrix = torch.mm((predictions * entropy_weight).transpose(1, 0), predictions)
    class_confusion_matrix = class_confusion_matrix / torch.sum(class_confusion_matrix, dim=1)
    return (torch.sum(class_confusion_matrix) - torch.trace(class_confusion_matrix)) / num_classes


source = (torch.randn(12, 5) * 1.5 + 0.3).requires_grad_()
target = (torch.randn(9, 5) * 0.7 - 0.2).requires_grad_()
coral = coral_loss(source, target)
coral.backward()

logits = (torch.randn(16, 4) * 3).requires_grad_()
mcc = mcc_loss(logits)
mcc.backward()

out = {
    "coral": {"source": source.detach().flatten().tolist(), "source_shape": list(source.shape),
              "target": target.detach().flatten().tolist(), "target_shape": list(target.shape),
              "loss": coral.item(), "grad_source": source.grad.flatten().tolist(), "grad_target": target.grad.flatten().tolist()},
    "mcc": {"logits": logits.detach().flatten().tolist(), "shape": list(logits.shape), "temperature": 2.5,
            "loss": mcc.item(), "grad": logits.grad.flatten().tolist()},
}
path = os.path.join(os.path.dirname(__file__), "..", "Tests", "AdaptationTests", "Fixtures", "adaptation.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print("wrote", os.path.normpath(path), "coral", coral.item(), "mcc", mcc.item())
