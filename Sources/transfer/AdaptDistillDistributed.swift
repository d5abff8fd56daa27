import Adaptation
import Distillation
import Foundation
import MPIDistributed
import TransferKit

extension AdaptCommand {
    /// Every rank of an `mpirun` job: its share of the features the run reads through the feature cache (afterwards
    /// every lookup is a hit), and the callback that joins the heads' learners to the other ranks'.
    static func joinRanks(_ world: Communicator, run: DomainAdaptation, inputs: [LabeledInput]) throws -> [Callback] {
        let dt = DistributedTraining(communicator: world)
        if run.readsFeatureCache {
            _ = try dt.extractFeatures(run.backbone, inputs: inputs, cacheRoot: run.options.featureCacheRoot, batchSize: 32, progress: run.options.progress)
        }
        return [dt.dataParallel()]
    }
}

extension DistillCommand {
    /// Every rank of an `mpirun` job: its share of the teacher's outputs (into the teacher cache) and of the student's
    /// features (into the feature cache), and the callback that joins the student's learners to the other ranks'.
    static func joinRanks(_ world: Communicator, teacher: Teacher, student: FeatureBackbone, options: DistillationOptions,
                          inputs: [LabeledInput], validation: [LabeledInput]) throws -> [Callback] {
        let dt = DistributedTraining(communicator: world)
        try dt.sharded(inputs) { mine in
            _ = teacher.outputs(mine, cacheRoot: options.teacherCacheRoot, featureCacheRoot: options.train.featureCacheRoot,
                                batchSize: options.train.batchSize)
        }
        _ = try dt.extractFeatures(student, inputs: inputs + validation, options: options.train)
        return [dt.dataParallel()]
    }
}
