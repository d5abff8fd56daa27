import Tensors

/// The ``Tensors/BatchStatisticsReducer`` of a data-parallel job: BatchNorm layers that train with batch statistics
/// normalise every rank's rows with the statistics of the global batch (PyTorch's `SyncBatchNorm`), summed with
/// `MPI_Allreduce` in double precision.
///
/// ``DataParallel`` weights each rank's mean-loss gradient by its local batch size n_r, so the job's loss is
/// Σ_r n_r ℓ_r / Σ n_r: the backward's gradient sums are weighted by n_s / n_r (exact also when a last global batch
/// splits unevenly).
final class SynchronizedBatchStatistics: BatchStatisticsReducer {
    let communicator: Communicator
    /// This rank's local batch size in the current step (its loss weight).
    var localCount: Double = 1
    /// The first all-reduce that failed (thrown before the optimizer step; later reductions are skipped).
    private(set) var failure: DistributedError?
    /// Forward reductions (one per BatchNorm layer and step) since the start of the fit.
    private(set) var forwardReductions = 0

    init(communicator: Communicator) { self.communicator = communicator }

    func sumStatistics(_ values: inout [Double]) {
        forwardReductions += 1
        reduce(&values)
    }

    func sumGradientStatistics(_ values: inout [Double]) {
        let w = localCount
        for i in values.indices { values[i] *= w }
        reduce(&values)
        for i in values.indices { values[i] /= w }
    }

    private func reduce(_ values: inout [Double]) {
        guard failure == nil else { return }
        do { try communicator.allReduceSum(&values) } catch { failure = error }
    }
}
