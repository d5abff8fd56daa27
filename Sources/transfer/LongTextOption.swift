import ArgumentParser
import Models

extension LongTextPolicy: ExpressibleByArgument {}

/// `--long-texts` and `--max-windows`: how a text model reads texts longer than its window (images ignore them).
struct LongTextOption: ParsableArguments {
    @Option(name: .long, help: "How a text model reads texts longer than its window (256 tokens for MiniLM): windows (every window of the text, its tokens pooled together; the default) or truncate (the first window only, as sentence-transformers' encode). Recorded in the bundle; image models ignore it.")
    var longTexts: LongTextPolicy = .windows
    @Option(name: .long, help: "With --long-texts windows, the most windows read per text, 1…256 (the rest of a longer text is dropped).")
    var maxWindows = 16

    func validate() throws {
        guard (1...256).contains(maxWindows) else { throw ValidationError("--max-windows must be a whole number in 1…256 (received \(maxWindows))") }
    }
}
