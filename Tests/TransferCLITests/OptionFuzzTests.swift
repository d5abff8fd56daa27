import Foundation
import Tensors
import Testing
@testable import transfer

/// A seeded SplitMix64: the same seed gives the same inputs on every machine.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The result of running the real executable: how it ended, and its output.
struct ProcessRun {
    var reason: Process.TerminationReason
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs the real `transfer` (stdout and stderr drained together, optional stdin) and reports how it ended.
func runTransferProcess(_ arguments: [String], environment: [String: String] = [:], stdin: Data? = nil,
                        executable: URL? = nil) throws -> ProcessRun {
    guard let exe = executable ?? transferExecutable() else {
        Issue.record("transfer executable not found near \(Bundle.main.bundleURL.path)")
        return ProcessRun(reason: .exit, status: -1, stdout: "", stderr: "")
    }
    let p = Process()
    p.executableURL = exe
    p.arguments = arguments
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe(), input = Pipe()
    p.standardOutput = out
    p.standardError = err
    if stdin != nil { p.standardInput = input } else { p.standardInput = FileHandle.nullDevice }
    try p.run()
    if let stdin {
        try? input.fileHandleForWriting.write(contentsOf: stdin)
        try? input.fileHandleForWriting.close()
    }
    final class Box: @unchecked Sendable { var data = Data() }
    let errData = Box()
    let group = DispatchGroup()
    let errHandle = err.fileHandleForReading
    DispatchQueue.global().async(group: group) { errData.data = errHandle.readDataToEndOfFile() }
    let o = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    return ProcessRun(reason: p.terminationReason, status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                      stderr: String(decoding: errData.data, as: UTF8.self))
}

/// Whether augment-preview's grid fits its 64-megapixel cap (defaults: 16 rows, 5 variants, 160 px tiles).
func previewGridFits(count: Int = 16, variants: Int = 5, size: Int = 160) -> Bool {
    guard (1...256).contains(count), (0...32).contains(variants), (16...1024).contains(size) else { return false }
    let width = (variants + 1) * size + (variants + 2) * 4, height = count * size + (count + 1) * 4
    return width * height <= 64 << 20
}

/// Whether `path` may be an output directory: not empty, and not an existing file.
func usableDirectoryPath(_ path: String) -> Bool {
    var isDir: ObjCBool = false
    return !path.isEmpty && (!FileManager.default.fileExists(atPath: path, isDirectory: &isDir) || isDir.boolValue)
}

/// One numeric (or otherwise checked) option of one command, with the oracle of which values it accepts.
struct FuzzedOption: Sendable {
    /// The command line without the option (required arguments filled in with harmless values).
    var base: [String]
    var flag: String
    /// Whether `value` (as typed after `--flag=`) is a valid value, given `base`.
    var accepts: @Sendable (String) -> Bool
    /// Boundary values of this option's range.
    var boundaries: [String]

    static func whole(_ base: [String], _ flag: String, _ range: ClosedRange<Int>) -> FuzzedOption {
        FuzzedOption(base: base, flag: flag, accepts: { Int($0).map { range.contains($0) } ?? false },
                     boundaries: [range.lowerBound - 1, range.lowerBound, range.upperBound, range.upperBound &+ 1].map(String.init))
    }

    static func wholeAtLeast(_ base: [String], _ flag: String, _ minimum: Int) -> FuzzedOption {
        FuzzedOption(base: base, flag: flag, accepts: { Int($0).map { $0 >= minimum } ?? false },
                     boundaries: [String(minimum - 1), String(minimum), String(Int.max)])
    }

    static func rate(_ base: [String], _ flag: String, _ accepts: @escaping @Sendable (Float) -> Bool, _ boundaries: [String]) -> FuzzedOption {
        FuzzedOption(base: base, flag: flag, accepts: { Float($0).map(accepts) ?? false }, boundaries: boundaries)
    }

    static func double(_ base: [String], _ flag: String, _ accepts: @escaping @Sendable (Double) -> Bool, _ boundaries: [String]) -> FuzzedOption {
        FuzzedOption(base: base, flag: flag, accepts: { Double($0).map(accepts) ?? false }, boundaries: boundaries)
    }

    static func seed(_ base: [String]) -> FuzzedOption {
        FuzzedOption(base: base, flag: "--seed", accepts: { UInt64($0) != nil }, boundaries: ["0", "-1", "18446744073709551615", "18446744073709551616"])
    }
}

/// Every numeric option of train, lr-find, predict, evaluate, embed, datasets export, augment-preview and demo, plus
/// the string options whose empty value must be refused.
let fuzzedOptions: [FuzzedOption] = {
    let missing = "/nonexistent/transferkit-fuzz"
    let trainWithoutOut = ["train", "--model", "efficientnet-lite0", "--data", missing + "/data"]
    let train = trainWithoutOut + ["--out", missing + "/out"]
    let features = train + ["--strategy", "features"]
    let lora = train + ["--strategy", "lora"]
    let lrFind = ["lr-find", "--model", "efficientnet-lite0", "--data", missing + "/data"]
    let predict = ["predict", "--model", "efficientnet-lite0", missing + "/x.png"]
    let evaluate = ["evaluate", "--model", missing + "/bundle", "--data", missing + "/data"]
    let embed = ["embed", "--model", "minilm-l6", "a text"]
    let export = ["datasets", "export", "fashion-mnist", "--out", missing + "/export"]
    let preview = ["augment-preview", "--data", missing + "/data", "--out", missing + "/grid.png"]
    let demo = ["demo", "--out", missing + "/demo"]
    let explain = ["explain", "--model", "efficientnet-lite0", "--out", missing + "/explain", missing + "/x.png"]
    let cluster = ["cluster", "--model", "efficientnet-lite0", "--data", missing + "/data"]
    let serve = ["serve", "--model", missing + "/bundle"]
    let distill = ["distill", "--teacher", missing + "/t", "--student", "mobilenet-v2", "--data", missing + "/data", "--out", missing + "/out"]
    let segTrain = train + ["--task", "segment", "--masks", missing + "/masks"]
    let detTrain = train + ["--task", "detect", "--boxes", missing + "/boxes.csv"]
    let segSet = ["segmentation-set", "--backgrounds", missing + "/photos", "--out", missing + "/set"]
    let fewshot = ["fewshot", "eval", "--model", "minilm-l6", "--data", missing + "/data"]
    let rate: @Sendable (Float) -> Bool = { $0 > 0 && $0 <= 10 }
    let rateBounds = ["0", "-0", "1e-45", "10", "10.000001", "-1", "nan", "inf"]
    let precisions: @Sendable (String) -> Bool = { Precision(rawValue: $0).map { $0.unsupportedReason == nil } ?? false }
    return [
        .whole(train, "--epochs", 1...100_000),
        .whole(train, "--head-epochs", 0...100_000),
        .whole(features, "--head-epochs", 1...100_000),
        .whole(features, "--epochs", 1...100_000),
        .whole(train, "--batch-size", 1...65_536),
        .rate(train, "--lr", rate, rateBounds),
        .rate(train, "--head-lr", rate, rateBounds),
        .whole(train, "--views", 0...64),
        .double(train, "--val-split", { $0 >= 0 && $0 < 1 }, ["0", "-0", "0.999999", "1", "-1e-300", "nan"]),
        .double(train, "--mixup", { $0 >= 0 && $0 <= 100 }, ["0", "100", "100.0000001", "-1e-300", "nan"]),
        .double(train, "--cutmix", { $0 >= 0 && $0 <= 100 }, ["0", "100", "100.0000001", "-1e-300", "nan"]),
        .whole(train, "--early-stopping", 0...100_000),
        .whole(lora, "--lora-rank", 1...1024),
        .rate(lora, "--lora-alpha", { $0 > 0 && $0 <= 65_536 }, ["0", "-0", "1e-45", "65536", "65536.01", "nan", "inf"]),
        .rate(lora, "--lora-dropout", { $0 >= 0 && $0 < 1 }, ["0", "-0", "0.999999", "1", "-1e-30", "nan"]),
        .seed(train),
        FuzzedOption(base: train, flag: "--unfreeze", accepts: { $0 == "all" || $0 == "auto" || (Int($0) ?? -1) >= 0 },
                     boundaries: ["all", "auto", "0", "-1", "ALL", String(Int.max)]),
        FuzzedOption(base: trainWithoutOut, flag: "--out", accepts: usableDirectoryPath, boundaries: ["", "/dev/null", "/tmp"]),
        .whole(lrFind, "--batch-size", 1...65_536),
        .rate(lrFind, "--start", { $0 > 0 && $0 <= 1000 && $0 < 10 }, ["0", "1e-45", "10", "9.999999", "-1", "nan", "inf"]),
        .rate(lrFind, "--end", { $0 > 0 && $0 <= 1000 && $0 > 1e-7 }, ["1e-7", "1.0000001e-7", "1000", "1000.0001", "nan", "-inf"]),
        .whole(lrFind, "--iterations", 5...10_000),
        .seed(lrFind),
        .wholeAtLeast(predict, "--top-k", 1),
        FuzzedOption(base: predict, flag: "--precision", accepts: precisions, boundaries: ["fp32", "bf16", "fp16", ""]),
        FuzzedOption(base: evaluate, flag: "--precision", accepts: precisions, boundaries: ["fp32", "bf16", "FP32", ""]),
        FuzzedOption(base: evaluate, flag: "--report", accepts: usableDirectoryPath, boundaries: ["", "/dev/null", "/tmp"]),
        FuzzedOption(base: embed, flag: "--precision", accepts: precisions, boundaries: ["fp32", "bf16", "int8", ""]),
        FuzzedOption(base: embed, flag: "--file", accepts: { !$0.isEmpty }, boundaries: ["", "-"]),
        .whole(export, "--per-class", 1...1_000_000),
        .seed(export + ["--per-class", "1"]),
        FuzzedOption(base: preview, flag: "--count", accepts: { Int($0).map { previewGridFits(count: $0) } ?? false }, boundaries: ["0", "1", "256", "257"]),
        FuzzedOption(base: preview, flag: "--variants", accepts: { Int($0).map { previewGridFits(variants: $0) } ?? false }, boundaries: ["-1", "0", "32", "33"]),
        FuzzedOption(base: preview, flag: "--size", accepts: { Int($0).map { previewGridFits(size: $0) } ?? false }, boundaries: ["15", "16", "1024", "1025", "600", "700"]),
        .seed(preview),
        .whole(demo, "--per-class", 1...6000),
        .whole(demo, "--test-per-class", 1...1000),
        .whole(demo, "--epochs", 1...100_000),
        .seed(demo),
        .whole(["runs", "list"], "--limit", 1...1_000_000),
        FuzzedOption(base: ["runs", "list"], flag: "--runs-db", accepts: { !$0.isEmpty }, boundaries: ["", "/tmp"]),
        FuzzedOption(base: evaluate, flag: "--runs-db", accepts: { !$0.isEmpty }, boundaries: ["", "-"]),
        .whole(explain, "--deletion-steps", 0...100),
        .whole(explain, "--ig-steps", 8...256),
        .whole(cluster, "--max-k", 3...50),
        .whole(cluster, "--restarts", 1...100),
        .wholeAtLeast(cluster, "--limit", 1),
        .seed(cluster),
        .whole(serve, "--port", 0...65_535),
        .whole(serve, "--max-body-bytes", 1024...(1 << 30)),
        .whole(serve, "--batch-window-ms", 0...1000),
        .whole(serve, "--queue", 1...100_000),
        .whole(serve, "--max-batch", 1...1024),
        .rate(distill, "--alpha", { $0 >= 0 && $0 <= 1 }, ["0", "-0", "1", "1.0000001", "-1e-30", "nan", "inf"]),
        .rate(distill, "--temperature", { $0 >= 0.05 && $0 <= 100 }, ["0.05", "0.049999", "100", "100.00001", "0", "nan", "inf"]),
        .rate(distill, "--hint", { $0 > 0 && $0 <= 1000 }, ["0", "-0", "1e-45", "1000", "1000.0001", "nan", "inf"]),
        .whole(distill, "--epochs", 1...100_000),
        .whole(distill, "--batch-size", 1...65_536),
        .double(distill, "--val-split", { $0 >= 0 && $0 < 1 }, ["0", "-0", "0.999999", "1", "-1e-300", "nan"]),
        .whole(segTrain, "--classes", 2...255),
        FuzzedOption(base: segTrain, flag: "--input-size", accepts: { Int($0).map { (32...1024).contains($0) && $0 % 32 == 0 } ?? false },
                     boundaries: ["0", "31", "32", "70", "1024", "1056"]),
        FuzzedOption(base: segTrain, flag: "--input-channels", accepts: { Int($0).map { $0 == 1 || $0 == 3 } ?? false },
                     boundaries: ["0", "1", "2", "3", "4"]),
        FuzzedOption(base: detTrain, flag: "--tile", accepts: { Int($0).map { $0 > 64 && $0 <= 2048 && $0 % 32 == 0 } ?? false },
                     boundaries: ["32", "64", "96", "100", "2048", "2080"]),
        .whole(detTrain, "--crops-per-epoch", 1...100_000),
        .double(detTrain, "--color-jitter", { $0 >= 0 && $0 <= 1 }, ["0", "-0", "1", "1.0000001", "-1e-300", "nan"]),
        .double(detTrain, "--hue-jitter", { $0 >= 0 && $0 <= 0.5 }, ["0", "0.5", "0.5000001", "-1e-300", "nan"]),
        .double(detTrain, "--scale-jitter", { $0 >= 0 && $0 <= 0.9 }, ["0", "0.9", "0.9000001", "-1e-300", "inf"]),
        .whole(segSet, "--count", 1...100_000),
        .whole(["quantize", missing + "/bundle", "--calibration", missing + "/cal", "--out", missing + "/q"], "--samples", 1...100_000),
        .whole(segSet, "--size", 32...1024),
        .seed(segSet),
        .whole(fewshot, "--ways", 2...100),
        .whole(fewshot, "--shots", 1...1000),
        .whole(fewshot, "--queries", 1...1000),
        .whole(fewshot, "--episodes", 1...100_000),
        .whole(fewshot, "--iterations", 1...1000),
        .seed(fewshot),
    ]
}()

/// Values every option is tried with.
let commonBoundaries = [
    "0", "-0", "1", "-1", "-2", "+1", "nan", "NaN", "-nan", "inf", "-inf", "+inf", "infinity", "1e308", "-1e308", "1e-308",
    "1e309", "1e-45", "3.4028235e38", "3.5e38", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    "-9223372036854775809", "18446744073709551615", "99999999999999999999999", "", " ", " 1", "1 ", "0x10", "1_000", "1e3",
    "1.5", ".5", "5.", "0.0", "１", "٣", "💥", "é", "∞", "-", "--", "=", "1=2", "\t", "'", "\"", "\\", "\u{7}", "a\nb",
]

/// Draws one value: a boundary (of this option or common), a random whole number or decimal of any magnitude, or a
/// random string (ASCII and beyond).
func fuzzValue(for option: FuzzedOption, using g: inout SplitMix64) -> String {
    switch g.next() % 10 {
    case 0, 1: return option.boundaries[Int(g.next() % UInt64(option.boundaries.count))]
    case 2, 3: return commonBoundaries[Int(g.next() % UInt64(commonBoundaries.count))]
    case 4, 5:
        let digits = Int(g.next() % 22)
        let magnitude = digits == 0 ? 0 : g.next() % (digits >= 19 ? UInt64.max : (1...digits).reduce(UInt64(1)) { r, _ in r * 10 })
        return (g.next() % 3 == 0 ? "-" : "") + String(magnitude)
    case 6, 7:
        let mantissa = Double(g.next() % 1_000_000) / 1000
        let exponent = Int(g.next() % 80) - 40
        let s = "\(g.next() % 4 == 0 ? "-" : "")\(mantissa)e\(exponent)"
        return g.next() % 2 == 0 ? s : String(Double(s) ?? 0)
    default:
        let alphabet = Array("0123456789+-.eE_xXnaifINFAl ,;:=/\\'\"\t😀éß٣１∞\u{1}")
        let length = Int(g.next() % 12)
        return String((0..<length).map { _ in alphabet[Int(g.next() % UInt64(alphabet.count))] })
    }
}

/// Arguments a real process can take (no NUL; execve cannot pass it).
func processSafe(_ s: String) -> Bool { !s.contains("\u{0}") }

@Suite(.serialized) struct OptionFuzzTests {
    static var count: Int { ProcessInfo.processInfo.environment["FUZZ_COUNT"].flatMap { Int($0) }.map { Swift.max($0, 1) } ?? 2000 }
    static var seed: UInt64 { ProcessInfo.processInfo.environment["FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x7472_616E_7366_6572 }

    /// Random and boundary values for every numeric option: each is accepted exactly when it lies in the option's
    /// range, and each refusal is one non-empty line naming the option, with a non-zero exit code. About 1 in 250
    /// inputs (at least 12) of the refused ones also run as a real `transfer` process, which must exit with a status,
    /// never a signal, and print one error line.
    @Test func everyNumericOptionAcceptsExactlyItsRangeAndRefusesTheRestWithOneLineAndNoSignal() throws {
        let start = Date()
        var g = SplitMix64(seed: Self.seed)
        let n = Self.count
        var mismatches: [String] = [], badMessages: [String] = [], invalid: [(args: [String], flag: String)] = []
        var accepted = 0
        for i in 0..<n {
            // Every option's boundaries first, then random draws.
            let option = fuzzedOptions[i % fuzzedOptions.count]
            let value = fuzzValue(for: option, using: &g)
            let args = option.base + ["\(option.flag)=\(value)"]
            let expected = option.accepts(value)
            do {
                _ = try Transfer.parseAsRoot(args)
                accepted += 1
                if !expected { mismatches.append("accepted \(args.suffix(1)) for \(option.base.prefix(2))") }
            } catch {
                let message = Transfer.userMessage(for: error)
                let code = Transfer.exitCode(for: error)
                if expected { mismatches.append("refused \(args.suffix(1)) for \(option.base.prefix(2)): \(message)") }
                if message.isEmpty || message.contains("\n") || code == .success || !message.contains(option.flag) {
                    badMessages.append("\(args.suffix(1)): [\(code.rawValue)] \(message.debugDescription)")
                }
                if processSafe(value) { invalid.append((args, option.flag)) }
            }
        }
        for m in mismatches.prefix(20) { Issue.record("oracle mismatch: \(m)") }
        for m in badMessages.prefix(20) { Issue.record("not a one-line error naming the option: \(m)") }
        #expect(mismatches.isEmpty && badMessages.isEmpty, "\(mismatches.count) mismatches, \(badMessages.count) bad messages in \(n) inputs")

        let parseSeconds = Date().timeIntervalSince(start)

        // A sample of the refused inputs as real processes.
        let runs = Swift.min(invalid.count, Swift.max(12, n / 250))
        var signals = 0, processFailures: [String] = []
        var pick = SplitMix64(seed: Self.seed ^ 0xDEAD)
        for _ in 0..<runs {
            let (args, flag) = invalid[Int(pick.next() % UInt64(invalid.count))]
            let r = try runTransferProcess(args)
            if r.reason != .exit { signals += 1 }
            let lines = r.stderr.split(separator: "\n")
            if r.reason != .exit || r.status == 0 || lines.count != 1 || !r.stderr.contains(flag) {
                processFailures.append("\(args.suffix(1)): reason \(r.reason == .exit ? "exit" : "signal") \(r.status), stderr \(r.stderr.debugDescription)")
            }
        }
        for f in processFailures.prefix(20) { Issue.record("process: \(f)") }
        #expect(signals == 0)
        let seconds = Date().timeIntervalSince(start)
        print("option fuzz: \(n) inputs (\(accepted) accepted, \(n - accepted) refused) parsed in process in "
              + "\(String(format: "%.2f", parseSeconds)) s, \(runs) of the refused also as real processes, \(signals) signals, "
              + "\(String(format: "%.2f", seconds)) s in all, seed \(Self.seed)")
    }

    /// TRANSFERKIT_THREADS: random and boundary values are accepted exactly when they are a whole number in 1…1024
    /// (empty: unset); a real process refuses the rest at startup with one line naming the variable and the value.
    @Test func threadCountEnvironmentAcceptsExactlyOneTo1024AndRefusesTheRestAtStartup() throws {
        var g = SplitMix64(seed: Self.seed ^ 0x7468)
        let n = Swift.max(200, Self.count / 10)
        var refused: [String] = []
        for i in 0..<n {
            let value = i < commonBoundaries.count ? commonBoundaries[i]
                : fuzzValue(for: .whole([], "TRANSFERKIT_THREADS", 1...1024), using: &g)
            let digitsOnly = !value.isEmpty && value.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
            let number = digitsOnly ? Int(value) : nil
            let valid = value.isEmpty || (number.map { (1...1024).contains($0) } ?? false)
            do throws(Threads.EnvironmentError) {
                let got = try Threads.environmentCount(["TRANSFERKIT_THREADS": value])
                #expect(valid && got == number, "TRANSFERKIT_THREADS=\(value.debugDescription) gave \(String(describing: got))")
            } catch {
                #expect(!valid, "TRANSFERKIT_THREADS=\(value.debugDescription) was refused: \(error)")
                #expect(error.description.contains("TRANSFERKIT_THREADS") && error.description.contains("1…1024"))
                if processSafe(value) && !value.contains("=") { refused.append(value) }
            }
        }
        var pick = SplitMix64(seed: Self.seed ^ 0x7072)
        for _ in 0..<Swift.min(8, refused.count) {
            let value = refused[Int(pick.next() % UInt64(refused.count))]
            let r = try runTransferProcess(["info"], environment: ["TRANSFERKIT_THREADS": value])
            #expect(r.reason == .exit && r.status != 0, "TRANSFERKIT_THREADS=\(value.debugDescription): \(r.status)")
            #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.contains("TRANSFERKIT_THREADS"), "\(r.stderr)")
        }
    }
}
