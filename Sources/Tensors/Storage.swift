import Foundation

/// A 64-byte aligned Float32 buffer. Buffers are recycled through ``BufferPool`` so that steady-state training,
/// which asks for the same sizes every step, does not call `malloc` per op.
public final class TensorStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    /// Bumped by every in-place write through ``Tensor/withMutableData(_:)`` (the one path that changes existing
    /// data: optimizer steps, `assign`, BatchNorm's running statistics), so caches of values derived from a tensor
    /// can tell when it changed.
    public internal(set) var version: UInt64 = 0

    init(count: Int) {
        self.count = count
        self.pointer = BufferPool.shared.take(count)
    }

    deinit { BufferPool.shared.give(pointer, count) }
}

/// Size-keyed free lists of aligned buffers, bounded in total bytes.
public final class BufferPool: @unchecked Sendable {
    public static let shared = BufferPool()
    private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private var pooledBytes = 0
    private let lock = NSLock()
    /// Upper bound on bytes kept for reuse (default 2 GiB, `TRANSFERKIT_POOL_MB` overrides).
    public let limitBytes: Int
    /// Counts of fresh allocations, for tests and benchmarks that prove steady state allocates nothing.
    public private(set) var freshAllocations = 0

    init() {
        let mb = ProcessInfo.processInfo.environment["TRANSFERKIT_POOL_MB"].flatMap(Int.init) ?? 2048
        limitBytes = mb << 20
    }

    func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        let n = Swift.max(count, 1)
        lock.lock()
        if var list = free[n], let p = list.popLast() {
            free[n] = list
            pooledBytes -= n * 4
            lock.unlock()
            return p
        }
        freshAllocations += 1
        lock.unlock()
        var raw: UnsafeMutableRawPointer?
        let rc = posix_memalign(&raw, 64, n * MemoryLayout<Float>.stride)
        require(rc == 0 && raw != nil, "TensorStorage: cannot allocate \(n) floats")
        return raw!.bindMemory(to: Float.self, capacity: n)
    }

    func give(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
        let n = Swift.max(count, 1)
        lock.lock()
        if pooledBytes + n * 4 <= limitBytes {
            free[n, default: []].append(p)
            pooledBytes += n * 4
            lock.unlock()
        } else {
            lock.unlock()
            Foundation.free(p)
        }
    }

    /// Releases every pooled buffer to the system.
    public func drain() {
        lock.lock()
        for (_, list) in free { for p in list { Foundation.free(p) } }
        free = [:]
        pooledBytes = 0
        lock.unlock()
    }
}
