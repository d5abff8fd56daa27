import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `transfer inspect` reads checkpoints by their structure and only from regular files.
@Suite struct InspectHostileTests {
    @Test func inspectRefusesAFIFOWithoutBlocking() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-inspect-fifo-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("weights.safetensors").path
        #expect(mkfifo(fifo, 0o600) == 0)
        // Should the reader block in open(), a writer released after 10 s unblocks it, so the test fails, never hangs.
        DispatchQueue.global().asyncAfter(deadline: .now() + 10) {
            let fd = open(fifo, O_WRONLY | O_NONBLOCK)
            if fd >= 0 { close(fd) }
        }
        let start = Date()
        let r = try runTransfer(["inspect", fifo])
        #expect(r.status != 0)
        #expect(Date().timeIntervalSince(start) < 9, "inspect blocked on the FIFO")
        #expect(r.stderr.lowercased().contains("fifo"), "\(r.stderr)")
    }

    @Test func inspectReadsASafetensorsFileWhoseHeaderLengthHasLowByte0x80() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-inspect-80-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var header = #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        header += String(repeating: " ", count: 0x80 - header.utf8.count)
        var bytes = [UInt8](repeating: 0, count: 8)
        bytes[0] = 0x80
        bytes += Array(header.utf8) + [0, 0, 0x80, 0x3F]
        let path = dir.appendingPathComponent("w.safetensors").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let r = try runTransfer(["inspect", path, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("safetensors") && r.stdout.contains("\"x\""), "\(r.stdout)")
    }
}
