import Adapters
import Foundation
import HeadFitting
import Models
import MPIDistributed
import TransferKit

/// What rank 0 reports of a distributed run (`--json`'s `distributed`).
final class DistributedSummary {
    let ranks: Int
    let extraction: DistributedTraining.ExtractionReport
    let dataParallel: DataParallel?

    init(ranks: Int, extraction: DistributedTraining.ExtractionReport, dataParallel: DataParallel?) {
        self.ranks = ranks; self.extraction = extraction; self.dataParallel = dataParallel
    }

    var summary: [String: Any] {
        var s: [String: Any] = ["ranks": ranks, "feature_share": extraction.shareCount, "features_computed": extraction.computed,
                                "feature_seconds": extraction.seconds, "feature_seconds_all_ranks": extraction.secondsUntilAllDone]
        if let dp = dataParallel {
            s["steps"] = dp.steps
            s["gradient_values_per_step"] = dp.valuesPerStep
            s["batch_statistics_reductions"] = dp.batchStatisticsReductions
            s["allreduce_seconds_per_step"] = dp.steps > 0 ? dp.allReduceSeconds / Double(dp.steps) : 0
            s["allreduce_wait_seconds_per_step"] = dp.steps > 0 ? dp.waitSeconds / Double(dp.steps) : 0
        }
        return s
    }
}

/// Runs `body` as one rank of an `mpirun` job (`train`, `adapt`, `distill`): MPI is finalised after it; an error is
/// printed with the rank and ends the whole job (`MPI_Abort`), so that no other rank is left waiting in a collective.
func asRank(_ world: Communicator, _ body: () async throws -> Void) async throws {
    do {
        try await body()
        world.finalize()
    } catch {
        FileHandle.standardError.write(Data("Error (MPI rank \(world.rank) of \(world.size)): \(Transfer.userMessage(for: error))\n".utf8))
        world.abort(code: 1)
    }
}

extension TrainCommand {
    /// Rank 0: extracts its share of the features, and (unless the head alone trains, once, here) joins its
    /// learners to the other ranks'.
    func joinRanks(_ world: Communicator, run: inout TrainingRun, data: LabeledData, test: LabeledData?) throws -> DistributedSummary {
        let dt = DistributedTraining(communicator: world)
        let report = try dt.extractFeatures(run.backbone, inputs: DistributedTraining.inputsNeedingFeatures(data, test: test, strategy: run.options.strategy),
                                            options: run.options)
        guard run.options.strategy != .features else { return DistributedSummary(ranks: world.size, extraction: report, dataParallel: nil) }
        let dp = dt.dataParallel()
        run.callbacks.append(dp)
        return DistributedSummary(ranks: world.size, extraction: report, dataParallel: dp)
    }

    /// A rank other than 0: the same backbone and options as rank 0, its share of the features, then (unless the
    /// strategy is features) the same training in step with rank 0; it writes and prints nothing.
    func executeWorker(_ world: Communicator, options: TrainOptions, spec: ModelSpec, data: LabeledData, test: LabeledData?) async throws {
        var o = options
        o.head = headKind(for: data.task)
        let backbone = try FeatureBackbone(spec: spec, weightsPath: try await startingWeights(model, spec), longTexts: longText.longTexts, maxWindows: longText.maxWindows)
        o.unfreeze = unfreeze.groups(for: backbone)
        if lr == nil { o.learningRate = strategy == .lora ? LoRAOptions.defaultLearningRate : backbone.defaultFineTuneLearningRate }
        let dt = DistributedTraining(communicator: world)
        _ = try dt.extractFeatures(backbone, inputs: DistributedTraining.inputsNeedingFeatures(data, test: test, strategy: o.strategy), options: o)
        guard o.strategy != .features else { return }
        let adapter = strategy == .lora ? LoRABackboneAdapter(config: try loraOptions.config(for: backbone), seed: seed) : nil
        try dt.worker(backbone, options: o, data: data, resume: resume,
                      headSolver: RegularisedHeads(logisticC: logisticC, crossValidateGradientHeads: headCv, heldOut: HeldOutLogits()),
                      adapter: adapter)
    }
}
