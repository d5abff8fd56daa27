import CMPI
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why a distributed run could not start or continue. Every message names the library, call or value it is about.
public enum DistributedError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The process was started by `mpirun`, but no MPI library could be loaded (`tried`: the names, `reason`: dlerror).
    case libraryMissing(tried: [String], reason: String)
    /// The loaded library lacks a symbol the MPI standard (or Open MPI's ABI, for the predefined handles) defines.
    case symbolMissing(library: String, symbol: String)
    /// An MPI call returned an error code.
    case callFailed(call: String, code: Int32)
    /// A value that must be the same on every rank differs (e.g. the number of trainable parameters).
    case ranksDisagree(what: String, detail: String)

    public var description: String {
        switch self {
        case .libraryMissing(let tried, let reason):
            return "this process was started by mpirun, but no MPI library could be loaded (tried \(tried.joined(separator: ", ")): "
                + "\(reason); install Open MPI (`sudo apt-get install openmpi-bin libopenmpi-dev`, or scripts/setup)"
        case .symbolMissing(let lib, let symbol):
            return "\(lib) has no symbol \(symbol): TransferKit needs Open MPI 4 or later (Debian's openmpi-bin)"
        case .callFailed(let call, let code):
            return "\(call) failed with MPI error code \(code)"
        case .ranksDisagree(let what, let detail):
            return "the MPI ranks disagree on \(what): \(detail); every rank must run the same command on the same data"
        }
    }
}

/// Open MPI loaded at run time with `dlopen`: the `transfer` binary does not link libmpi, so a plain run (not started
/// by `mpirun`) never needs it, and one binary serves both.
///
/// The function types are the MPI standard's, written against the `CMPI` module's `mpi.h`; the predefined handles
/// (`MPI_COMM_WORLD`, `MPI_FLOAT`, `MPI_SUM`, …) are Open MPI's exported globals (`ompi_mpi_comm_world`, …), which is
/// what its `mpi.h` macros expand to.
final class MPILibrary: @unchecked Sendable {
    typealias InitThread = @convention(c) (UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?, Int32, UnsafeMutablePointer<Int32>?) -> Int32
    typealias CommQuery = @convention(c) (MPI_Comm?, UnsafeMutablePointer<Int32>?) -> Int32
    typealias Allreduce = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, MPI_Datatype?, MPI_Op?, MPI_Comm?) -> Int32
    typealias Iallreduce = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, MPI_Datatype?, MPI_Op?, MPI_Comm?,
                                           UnsafeMutablePointer<MPI_Request?>?) -> Int32
    typealias Wait = @convention(c) (UnsafeMutablePointer<MPI_Request?>?, UnsafeMutablePointer<MPI_Status>?) -> Int32
    typealias Test = @convention(c) (UnsafeMutablePointer<MPI_Request?>?, UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<MPI_Status>?) -> Int32
    typealias Bcast = @convention(c) (UnsafeMutableRawPointer?, Int32, MPI_Datatype?, Int32, MPI_Comm?) -> Int32
    typealias Barrier = @convention(c) (MPI_Comm?) -> Int32
    typealias Finalize = @convention(c) () -> Int32
    typealias Abort = @convention(c) (MPI_Comm?, Int32) -> Int32

    let name: String
    let initThread: InitThread, commRank: CommQuery, commSize: CommQuery
    let allreduce: Allreduce, iallreduce: Iallreduce, wait: Wait, test: Test, bcast: Bcast, barrier: Barrier
    let finalize: Finalize, abort: Abort
    let commWorld: MPI_Comm, float: MPI_Datatype, double: MPI_Datatype, sum: MPI_Op

    /// The shared object names tried in order: Debian's runtime package (libopenmpi3) ships `libmpi.so.40`.
    static let candidates = ["libmpi.so.40", "libmpi.so"]

    init() throws(DistributedError) {
        var handle: UnsafeMutableRawPointer?, loaded = "", reasons: [String] = []
        for c in Self.candidates {
            // RTLD_GLOBAL: Open MPI's plugins resolve their symbols against libmpi's.
            if let h = dlopen(c, RTLD_NOW | RTLD_GLOBAL) { handle = h; loaded = c; break }
            reasons.append(dlerror().map { String(cString: $0) } ?? "not found")
        }
        guard let handle else { throw .libraryMissing(tried: Self.candidates, reason: reasons.joined(separator: "; ")) }
        name = loaded
        func sym(_ s: String) throws(DistributedError) -> UnsafeMutableRawPointer {
            guard let p = dlsym(handle, s) else { throw .symbolMissing(library: loaded, symbol: s) }
            return p
        }
        initThread = unsafeBitCast(try sym("MPI_Init_thread"), to: InitThread.self)
        commRank = unsafeBitCast(try sym("MPI_Comm_rank"), to: CommQuery.self)
        commSize = unsafeBitCast(try sym("MPI_Comm_size"), to: CommQuery.self)
        allreduce = unsafeBitCast(try sym("MPI_Allreduce"), to: Allreduce.self)
        iallreduce = unsafeBitCast(try sym("MPI_Iallreduce"), to: Iallreduce.self)
        wait = unsafeBitCast(try sym("MPI_Wait"), to: Wait.self)
        test = unsafeBitCast(try sym("MPI_Test"), to: Test.self)
        bcast = unsafeBitCast(try sym("MPI_Bcast"), to: Bcast.self)
        barrier = unsafeBitCast(try sym("MPI_Barrier"), to: Barrier.self)
        finalize = unsafeBitCast(try sym("MPI_Finalize"), to: Finalize.self)
        abort = unsafeBitCast(try sym("MPI_Abort"), to: Abort.self)
        commWorld = MPI_Comm(try sym("ompi_mpi_comm_world"))
        float = MPI_Datatype(try sym("ompi_mpi_float"))
        double = MPI_Datatype(try sym("ompi_mpi_double"))
        sum = MPI_Op(try sym("ompi_mpi_op_sum"))
    }
}

/// The ranks of one `mpirun` job (`MPI_COMM_WORLD`): who this process is, and the collectives data-parallel training
/// needs (all-reduce, broadcast, barrier).
///
/// ``fromEnvironment()`` returns nil in a process that `mpirun` did not start, without touching any MPI library.
/// MPI is initialised with `MPI_THREAD_SERIALIZED`: calls may come from any thread, never two at once (Swift's
/// async commands may resume on another thread than the one that initialised MPI).
public final class Communicator: @unchecked Sendable {
    let mpi: MPILibrary
    /// This process's rank, 0 ..< ``size``.
    public let rank: Int
    /// The number of processes in the job.
    public let size: Int
    private var finalized = false

    /// The environment variable Open MPI's launcher sets in every process it starts (the job's size).
    public static let launcherVariable = "OMPI_COMM_WORLD_SIZE"

    /// Whether this process was started by Open MPI's `mpirun`/`mpiexec`.
    public static var isLaunchedByMPI: Bool { ProcessInfo.processInfo.environment[launcherVariable] != nil }

    /// The job's communicator when this process was started by `mpirun` (loading and initialising MPI), nil otherwise.
    public static func fromEnvironment() throws(DistributedError) -> Communicator? {
        guard isLaunchedByMPI else { return nil }
        return try Communicator()
    }

    init() throws(DistributedError) {
        mpi = try MPILibrary()
        var provided: Int32 = 0
        try Self.check("MPI_Init_thread", mpi.initThread(nil, nil, 2 /* MPI_THREAD_SERIALIZED */, &provided))
        var r: Int32 = 0, s: Int32 = 0
        try Self.check("MPI_Comm_rank", mpi.commRank(mpi.commWorld, &r))
        try Self.check("MPI_Comm_size", mpi.commSize(mpi.commWorld, &s))
        rank = Int(r)
        size = Int(s)
    }

    static func check(_ call: String, _ code: Int32) throws(DistributedError) {
        guard code == 0 else { throw .callFailed(call: call, code: code) }
    }

    /// Whether this is rank 0, the one that writes the run's files.
    public var isRoot: Bool { rank == 0 }

    /// Sums `values` over all ranks in place (`MPI_Allreduce` with `MPI_SUM`).
    public func allReduceSum(_ values: inout [Float]) throws(DistributedError) {
        let n = Int32(values.count)
        let code = values.withUnsafeMutableBytes { mpi.allreduce(UnsafeRawPointer(bitPattern: 1) /* MPI_IN_PLACE */, $0.baseAddress, n, mpi.float, mpi.sum, mpi.commWorld) }
        try Self.check("MPI_Allreduce", code)
    }

    /// Sums `values` over all ranks in place, in double precision.
    public func allReduceSum(_ values: inout [Double]) throws(DistributedError) {
        let n = Int32(values.count)
        let code = values.withUnsafeMutableBytes { mpi.allreduce(UnsafeRawPointer(bitPattern: 1), $0.baseAddress, n, mpi.double, mpi.sum, mpi.commWorld) }
        try Self.check("MPI_Allreduce", code)
    }

    /// Replaces `values` with rank `root`'s (`MPI_Bcast`); every rank must pass the same count.
    public func broadcast(_ values: inout [Float], root: Int = 0) throws(DistributedError) {
        let n = Int32(values.count)
        let code = values.withUnsafeMutableBytes { mpi.bcast($0.baseAddress, n, mpi.float, Int32(root), mpi.commWorld) }
        try Self.check("MPI_Bcast", code)
    }

    /// Waits until every rank has called it (`MPI_Barrier`).
    public func barrier() throws(DistributedError) {
        try Self.check("MPI_Barrier", mpi.barrier(mpi.commWorld))
    }

    /// Starts summing `count` floats at `buffer` over all ranks in place (`MPI_Iallreduce`); the buffer must stay
    /// alive and untouched until ``wait(_:)`` or ``test(_:)`` says the request completed.
    func startAllReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws(DistributedError) -> MPI_Request? {
        var request: MPI_Request?
        try Self.check("MPI_Iallreduce", mpi.iallreduce(UnsafeRawPointer(bitPattern: 1), buffer, Int32(count), mpi.float, mpi.sum,
                                                        mpi.commWorld, &request))
        return request
    }

    /// Whether the request completed (driving MPI's progress engine once).
    func test(_ request: inout MPI_Request?) throws(DistributedError) -> Bool {
        var flag: Int32 = 0
        try Self.check("MPI_Test", mpi.test(&request, &flag, nil))
        return flag != 0
    }

    /// Blocks until the request completed.
    func wait(_ request: inout MPI_Request?) throws(DistributedError) {
        try Self.check("MPI_Wait", mpi.wait(&request, nil))
    }

    /// Ends MPI in this process (`MPI_Finalize`); call once, after the last collective, on every rank.
    public func finalize() {
        guard !finalized else { return }
        finalized = true
        _ = mpi.finalize()
    }

    /// Ends every process of the job with `code` (`MPI_Abort`): a rank that failed alone must not leave the others
    /// waiting in a collective.
    public func abort(code: Int32) -> Never {
        _ = mpi.abort(mpi.commWorld, code)
        exit(code)
    }
}
