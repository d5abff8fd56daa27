import ArgumentParser
import Datasets
import Foundation
import Models
import Reports
import TransferKit

/// `transfer lr-find`: a learning-rate sweep (fastai `lr_find`) that suggests `--head-lr` or `--lr` and plots the curve.
struct LRFindCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lr-find",
        abstract: "Suggest a learning rate: sweep it from tiny to huge over a few batches and watch the loss.",
        discussion: """
            --phase head sweeps the head on cached features (suggests --head-lr); --phase fine-tune first trains the \
            head, then sweeps the unfrozen top groups (suggests --lr). Nothing is saved of the sweep's training.
            """)

    @Option(name: .long, help: "Pretrained model (see `transfer models`).") var model: String
    @Option(name: .long, help: "An image folder, a text folder, or a CSV (path,label / text,label).") var data: String
    @Option(name: .long, help: "The phase to sweep.") var phase: TransferTrainer.SweepPhase = .head
    @Option(name: .long, help: "Block groups to unfreeze for --phase fine-tune: a number ≥ 0, 'all' or 'auto'.") var unfreeze: UnfreezeChoice = .auto
    @Option(name: .long, help: "The new head.") var head: HeadKind = .linear
    @Option(name: .long, help: "The task (default: inferred from the labels).") var task: TaskFlag?
    @Option(name: .long, help: "Batch size, 1…65536.") var batchSize = 32
    @Option(name: .long, help: "Smallest learning rate of the sweep, in (0, 1000], below --end.") var start: Float = 1e-7
    @Option(name: .long, help: "Largest learning rate of the sweep, in (0, 1000].") var end: Float = 10
    @Option(name: .long, help: "Batches in the sweep, 5…10000 (it stops early when the loss diverges).") var iterations = 100
    @Option(name: .long, help: "Random seed, 0…18446744073709551615.") var seed: UInt64 = 0
    @Option(name: .long, help: "Write lr-find.svg and lr-find.json into this directory.") var plot: String?
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    /// The sweep's learning rates lie in (0, ``maxRate``].
    static let maxRate: Float = 1000
    /// Batches a sweep may run.
    static let iterationRange = 5...10_000

    func validate() throws {
        if task == .segment || task == .detect { throw ValidationError("lr-find takes classify, multilabel or regress as --task (segmentation trains with `transfer train --task segment`)") }
        if head == .logistic { throw ValidationError("--head logistic has no learning rate (it is solved by L-BFGS); lr-find takes --head linear or mlp") }
        try requireRate("--start", start, maximum: Self.maxRate)
        try requireRate("--end", end, maximum: Self.maxRate)
        guard end > start else { throw ValidationError("--end must be greater than --start (received --start \(start), --end \(end))") }
        try requireWhole("--iterations", iterations, in: Self.iterationRange)
        try requireWhole("--batch-size", batchSize, in: TrainOptions.batchSizeRange)
        guard !model.isEmpty else { throw ValidationError("--model must name a pretrained model (received an empty string; see `transfer models`)") }
        guard !data.isEmpty else { throw ValidationError("--data must be a folder or a CSV (received an empty string)") }
        try requireDirectoryPath("--plot", plot, holds: "the plot")
    }

    func run() async throws {
        let sweep = phase
        let spec = try pretrainedSpec(model)
        let all = try loadData(data, task: task?.kind)
        try TrainingRun.checkData(all, dataName: data, test: nil, testName: nil, modelName: model, modelTakesImages: takesImages(spec))
        let backbone = try FeatureBackbone(spec: spec, weightsPath: try await backboneWeights(spec))
        var o = TrainOptions()
        o.strategy = .fineTune
        o.head = head
        o.batchSize = batchSize
        o.seed = seed
        o.progress = !json
        o.unfreeze = unfreeze.groups(for: backbone)
        let (train, valid) = try all.split(validation: 0.1, seed: seed)
        let r: LRFinderResult
        do {
            r = try TransferTrainer(backbone: backbone, options: o).findLearningRate(train, validation: valid, phase: sweep, start: start, end: end,
                                                                                   iterations: iterations)
        } catch let e as TrainError {
            guard case .nothingToTrain(let why) = e else { throw e }
            throw RuntimeError("\(data): no learning rate to suggest: \(why) (\(train.inputs.count) training inputs, --batch-size \(batchSize))")
        }
        let flag = sweep == .head ? "--head-lr" : "--lr"
        if let plot {
            let dir = URL(fileURLWithPath: plot)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try Data(r.svg(title: "\(model) on \(data): \(phase.rawValue) sweep").utf8).write(to: dir.appendingPathComponent("lr-find.svg"), options: .atomic)
            try Data((try encodeJSON(r) + "\n").utf8).write(to: dir.appendingPathComponent("lr-find.json"), options: .atomic)
        }
        if json {
            print(try encodeJSON(r))
        } else {
            print(String(format: "suggested %@ %.2e (valley); steepest %.2e, minimum/10 %.2e; %d batches swept", flag, r.valley, r.steepest,
                         r.minimumOverTen, r.losses.count))
            if let plot { print("plot: \(plot)/lr-find.svg") }
        }
    }
}

extension TransferTrainer.SweepPhase: ExpressibleByArgument {}
