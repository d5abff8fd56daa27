import Foundation
import Tensors

/// A trainable change to a backbone that leaves its pretrained weights as they are: an adapter, such as LoRA
/// (Hu et al. 2021) in the Adapters target.
///
/// The ``Strategy/lora`` strategy trains one: ``TransferTrainer`` attaches it before phase 2 and trains its
/// parameters with the head while every backbone weight stays frozen; ``ModelBundle`` stores it beside the head as
/// `adapter.safetensors`, whose SHA-256 the manifest records (`training.adapter_sha256`), and reads it back through
/// a ``BackboneAdapterLoader``.
public protocol BackboneAdapter: AnyObject {
    /// Puts the adapter into `backbone.module`, freezes the backbone's own parameters, and returns the parameters that
    /// train, keyed as in the backbone's state dict.
    func attach(to backbone: FeatureBackbone) throws -> [(String, Tensor)]
    /// Writes the adapter as it is now to `file`.
    func write(to file: URL, backbone: FeatureBackbone) throws
    /// What the manifest's `training` records of it (e.g. `lora_rank`).
    var configuration: [String: String] { get }
}

/// Reads a bundle's adapter file and attaches it to `backbone` (the Adapters target provides LoRA's).
public typealias BackboneAdapterLoader = (_ file: URL, _ backbone: FeatureBackbone) throws -> BackboneAdapter
