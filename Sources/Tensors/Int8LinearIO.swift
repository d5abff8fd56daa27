import CDNNL

/// What an int8 linear layer (``Int8Layer/linear(_:weight:bias:activation:residual:output:)``) writes.
///
/// - `fp32`: plain fp32, for any reader.
/// - `bf16`: plain row-major bf16 (a ``BlockedLayout`` saying so), for a bf16 consumer: the packed query/key/value
///   projection feeding ``Tensor/packedSelfAttention(_:heads:mask:)``, whose products then run in bf16 with fp32
///   accumulation and whose context the next int8 layer quantises from bf16 in one pass.
/// - `integers(q)`: `round(y / q.scale)` saturated into `u8`/`s8` (``Tensor/holdsIntegers``), for a consumer that is
///   itself an int8 layer with input quantisation `q` and reads it without another pass (BERT's feed-forward
///   expansion into its output projection). Only that layer may read it.
public enum Int8LinearOutput: Sendable, Equatable, CustomStringConvertible {
    case fp32
    case bf16
    case integers(Int8InputQuantization)

    var dataType: dnnl_data_type_t {
        switch self {
        case .fp32: dnnl_f32
        case .bf16: dnnl_bf16
        case .integers(let q): q.dataType
        }
    }

    /// The integer destination's scale (nil for floating-point outputs).
    var integerScale: Float? {
        if case .integers(let q) = self { return q.scale }
        return nil
    }

    /// Part of the primitive cache's key.
    var key: String {
        switch self {
        case .fp32: "f32"
        case .bf16: "bf16"
        case .integers(let q): "\(q.signed ? "s8" : "u8")/\(q.scale)"
        }
    }

    public var description: String {
        switch self {
        case .fp32: "fp32"
        case .bf16: "bf16"
        case .integers(let q): "\(q.signed ? "s8" : "u8") (scale \(q.scale))"
        }
    }
}

extension Int8Layer {
    /// `x` as the `[m, k]` rows of the int8 matmul's source `dst` (this layer's integer type, plain): integers already
    /// in that type and plain row-major are taken as they are; plain row-major bf16 is quantised from bf16 by one
    /// scaled reorder; anything else becomes plain fp32 rows first.
    func quantizedRows(_ x: Tensor, m: Int, k: Int, _ dst: dnnl_memory_desc_t) -> Tensor {
        if let l = x.layout, x.offset == 0,
           l.desc.data_type == input.dataType || l.desc.data_type == dnnl_bf16,
           DNNL.equal(l.desc, DNNL.desc(x.shape.dims, DNNL.plainTag(x.rank), type: l.desc.data_type)) {
            let rows = DNNL.desc([m, k], dnnl_ab, type: l.desc.data_type)
            if l.desc.data_type == input.dataType {
                require(DNNL.equal(rows, dst), "linear (int8): integer input \(x.shape) does not fit the matmul's source")
                return Tensor(storage: x.storage, shape: [m, k], layout: BlockedLayout(rows))
            }
            return quantized(x, from: rows, to: dst)
        }
        require(!x.holdsIntegers, "linear (int8): integer input \(x.shape) that is not plain \(input.signed ? "s8" : "u8") rows (this layer's input type)")
        let plain = (x.layout == nil ? x : x.plainData()).contiguous().reshaped(m, k)
        return quantized(plain, from: DNNL.desc([m, k], dnnl_ab), to: dst)
    }
}
