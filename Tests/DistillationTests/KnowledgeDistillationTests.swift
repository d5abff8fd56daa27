import Datasets
import Foundation
import Layers
import Optimizers
import Testing
@testable import Distillation
@testable import Tensors
import TransferKit

/// Central differences of `f` at every element of `x` against its autograd gradient; returns the largest
/// `|analytic − numeric| − (atol + rtol·|numeric|)` (≤ 0 passes). L is summed in Float64 from Float32 values.
func finiteDifferenceExcess(_ x: Tensor, eps: Float = 1e-2, atol: Double = 2e-3, rtol: Double = 1e-2, _ f: (Tensor) -> Tensor) -> Double {
    x.requiresGrad = true
    x.grad = nil
    f(x).backward()
    let analytic = x.grad!.toArray()
    var worst = -Double.infinity
    for i in 0..<x.count {
        let orig = x.withMutableData { $0[i] }
        x.withMutableData { $0[i] = orig + eps }
        let lp = Double(withNoGrad { f(x) }.item())
        x.withMutableData { $0[i] = orig - eps }
        let lm = Double(withNoGrad { f(x) }.item())
        x.withMutableData { $0[i] = orig }
        let numeric = (lp - lm) / (2 * Double(eps))
        worst = Swift.max(worst, Swift.abs(Double(analytic[i]) - numeric) - (atol + rtol * Swift.abs(numeric)))
    }
    return worst
}

func seededTensor(_ shape: [Int], seed: UInt64, scale: Float = 2) -> Tensor {
    var g = SeededGenerator(seed: seed)
    return Tensor.uniform(Shape(shape), low: -scale, high: scale, generator: &g)
}

@Suite struct KnowledgeDistillationLossTests {
    @Test func softTargetLossIsTSquaredTimesTheKLOfTheSoftenedDistributions() {
        let s: [Float] = [1, 2, 0.5, -1, 0, 3], t: [Float] = [2, -1, 0.3, 0.2, 1.5, 1]
        let temperature: Float = 2.5
        let got = KnowledgeDistillation.softTargetLoss(student: Tensor(shape: [2, 3], data: s), teacher: Tensor(shape: [2, 3], data: t),
                                                       temperature: temperature).toArray()
        // Float64 reference: Σ p (log p − log q) · T² per row.
        for row in 0..<2 {
            func softmax(_ v: ArraySlice<Float>) -> [Double] {
                let z = v.map { Double($0) / Double(temperature) }, m = z.max()!
                let e = z.map { Foundation.exp($0 - m) }, sum = e.reduce(0, +)
                return e.map { $0 / sum }
            }
            let p = softmax(t[(row * 3)..<(row * 3 + 3)]), q = softmax(s[(row * 3)..<(row * 3 + 3)])
            let kl = zip(p, q).map { $0 * (Foundation.log($0) - Foundation.log($1)) }.reduce(0, +) * Double(temperature * temperature)
            #expect(Swift.abs(Double(got[row]) - kl) < 1e-5, "row \(row): \(got[row]) vs \(kl)")
        }
        let same = KnowledgeDistillation.softTargetLoss(student: Tensor(shape: [2, 3], data: t), teacher: Tensor(shape: [2, 3], data: t),
                                                        temperature: temperature).toArray()
        #expect(same.allSatisfy { Swift.abs($0) < 1e-6 }, "KL of a distribution with itself: \(same)")
    }

    @Test func mixedLossGradientMatchesFiniteDifferencesWithLabelledAndUnlabelledRows() {
        let teacher = seededTensor([5, 4], seed: 3, scale: 3)
        let labels = [0, 3, 1, 2, 2], labelled = [true, false, true, true, false]
        for (temperature, alpha) in [(Float(4), Float(0.9)), (1, 0.5), (0.5, 0)] {
            let student = seededTensor([5, 4], seed: 11)
            let excess = finiteDifferenceExcess(student) {
                KnowledgeDistillation.loss(student: $0, teacher: teacher, labels: labels, labelled: labelled,
                                           temperature: temperature, alpha: alpha)
            }
            #expect(excess <= 0, "T \(temperature), α \(alpha): gradient off by \(excess) beyond tolerance")
        }
    }

    @Test func alphaZeroIsCrossEntropyOnTheLabelledRowsAndUnlabelledRowsFollowTheTeacherAlone() {
        let student = seededTensor([4, 3], seed: 5), teacher = seededTensor([4, 3], seed: 6)
        let labels = [2, 0, 1, 1]
        let ce = Tensor.crossEntropy(logits: student, targets: labels).item()
        let all = KnowledgeDistillation.loss(student: student, teacher: teacher, labels: labels, labelled: [true, true, true, true],
                                             temperature: 3, alpha: 0).item()
        #expect(Swift.abs(all - ce) < 1e-5, "α = 0 loss \(all) vs cross-entropy \(ce)")
        let kd = KnowledgeDistillation.softTargetLoss(student: student, teacher: teacher, temperature: 3).toArray()
        let none = KnowledgeDistillation.loss(student: student, teacher: teacher, labels: labels, labelled: [false, false, false, false],
                                              temperature: 3, alpha: 0).item()
        #expect(Swift.abs(none - kd.reduce(0, +) / 4) < 1e-5, "unlabelled rows: \(none) vs mean KD \(kd.reduce(0, +) / 4)")
    }

    @Test func hintLossGradientReachesTheStudentFeaturesAndTheProjection() {
        let teacherFeatures = seededTensor([3, 5], seed: 21)
        let head = Head(.linear, inputs: 4, outputs: 2)
        let hint = FeatureHint(studentDimension: 4, teacherFeatures: teacherFeatures, weight: 0.5, head: head) { $0.tensor! }
        let f = seededTensor([3, 4], seed: 22)
        let excess = finiteDifferenceExcess(f) { hint.loss(studentFeatures: $0, teacherFeatures: teacherFeatures) }
        #expect(excess <= 0, "hint gradient off by \(excess)")
        #expect(hint.projection.weight.grad != nil, "the projection receives a gradient")
    }

    @Test func distillationObjectiveAttachesTeacherRowsByDatasetIndexAndTrainsAStudentTowardsTheTeacher() throws {
        // A linear student on fixed inputs learns a teacher's soft labels on unlabelled rows alone (α = 1 has no
        // labels to use): its predictions end up agreeing with the teacher's argmax.
        let n = 64, d = 6, c = 3
        let x = seededTensor([n, d], seed: 31)
        let w = seededTensor([d, c], seed: 32)
        let teacherLogits = Tensor.matmul(x, w) * 2
        let teacherClasses = teacherLogits.argmax(axis: 1)
        let objective = DistillationObjective(teacherLogits: teacherLogits, labelled: [Bool](repeating: false, count: n),
                                              temperature: 2, alpha: 1)
        let batch = objective.prepare(TransferKit.Batch(inputs: x.indexSelect(axis: 0, indices: [5, 2]), targets: .classes([0, 0]), indices: [5, 2]),
                                      training: true)
        #expect(batch.tensors[DistillationObjective.teacherLogitsKey]?.toArray() == teacherLogits.indexSelect(axis: 0, indices: [5, 2]).toArray())
        Initializer.seed(1)
        let student = Linear(d, c)
        let learner = Learner(model: student, objective: objective,
                              optimizer: AdamW(parameters: student.namedParameters().map { ($0.0, $0.1) }, learningRate: 0.05),
                              trainData: TensorBatchSource(inputs: x, targets: .classes([Int](repeating: 0, count: n)), batchSize: 16, shuffle: true),
                              validData: nil)
        try learner.fit(epochs: 60)
        let agree = zip(withNoGrad { student(x) }.argmax(axis: 1), teacherClasses).filter { $0 == $1 }.count
        #expect(agree >= 60, "student agrees with the teacher on \(agree) of \(n)")
    }
}
