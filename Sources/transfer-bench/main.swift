import Tensors
print("transfer-bench: oneDNN \(DNNL.versionDescription)")
