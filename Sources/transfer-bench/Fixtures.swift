import Dispatch
import Foundation
import Tensors

/// Inputs for the measurements: pseudo-random data, made fast enough that 16M-element tensors cost little to set
/// up and without large temporary arrays (which would inflate the peak RSS the bench reports).

/// Fills `count` floats with uniform values in [−scale, scale) from a seeded xorshift generator.
func fillRandom(_ p: UnsafeMutablePointer<Float>, count: Int, seed: UInt64, scale: Float = 1) {
    var s = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    for i in 0..<count {
        s ^= s << 13
        s ^= s >> 7
        s ^= s << 17
        p[i] = (Float(s >> 40) * (1.0 / Float(1 << 24)) * 2 - 1) * scale
    }
}

/// A plain tensor of uniform values in [−scale, scale).
func randomTensor(_ shape: Shape, scale: Float = 1, seed: UInt64 = 1) -> Tensor {
    let t = Tensor.zeros(shape)
    t.withMutableData { fillRandom($0.baseAddress!, count: $0.count, seed: seed, scale: scale) }
    return t
}

/// Pointers handed to a concurrent loop whose iterations touch disjoint bytes.
private struct CopyJob: @unchecked Sendable {
    let dst: UnsafeMutableRawPointer
    let src: UnsafeRawPointer
    let bytes: Int
    let chunks: Int
}

/// `memcpy` of `bytes` bytes split into `threads` equal parts copied concurrently (the bandwidth reference runs on
/// as many threads as TransferKit's kernels).
func parallelCopy(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, bytes: Int, threads: Int) {
    let job = CopyJob(dst: dst, src: src, bytes: bytes, chunks: Swift.max(1, threads))
    if job.chunks == 1 {
        memcpy(dst, src, bytes)
        return
    }
    // Chunk boundaries on 64-byte lines.
    let per = ((bytes + job.chunks - 1) / job.chunks + 63) & ~63
    DispatchQueue.concurrentPerform(iterations: job.chunks) { c in
        let start = c * per
        let end = Swift.min(job.bytes, start + per)
        if start < end { memcpy(job.dst + start, job.src + start, end - start) }
    }
}

/// Peak resident set size of this process so far, in MiB (`getrusage`'s `ru_maxrss` is in KiB on Linux).
func peakRSSMegabytes() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// A benchmark that could not run.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// This process's resident-memory high-water mark (`VmHWM` in `/proc/self/status`) in MB. Unlike `ru_maxrss`, which a
/// child inherits from its parent across fork and exec, it starts afresh with the process image; falls back to
/// `ru_maxrss` where `/proc` has no such line.
func highWaterMarkMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kb = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap({ Double($0) })
    else { return peakRSSMegabytes() }
    return kb / 1024
}
