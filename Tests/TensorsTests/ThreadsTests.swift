import CKernels
import Testing
@testable import Tensors

@Suite struct ThreadsTests {
    @Test func oneSettingDrivesOpenMPAndSwiftKernels() {
        let original = Threads.count
        defer { Threads.setCount(original) }
        Threads.setCount(1)
        #expect(Threads.count == 1)
        _ = DNNL.versionDescription  // oneDNN loaded: OpenMP's setting is visible
        #expect(tk_get_omp_threads() == 1)
        Threads.setCount(2)
        #expect(tk_get_omp_threads() == 2)
    }

    @Test func parallelForCoversTheRangeExactlyOnce() {
        let original = Threads.count
        defer { Threads.setCount(original) }
        Threads.setCount(2)
        let n = 100_003
        let hits = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        hits.initialize(repeating: 0, count: n)
        defer { hits.deallocate() }
        let box = UncheckedBox(hits)
        Threads.parallelFor(n, grain: 1000) { s, e in for i in s..<e { box.value[i] += 1 } }
        #expect((0..<n).allSatisfy { hits[$0] == 1 })
    }

    @Test func waitPolicyAcceptsActiveOrPassiveInAnyCaseAndNamesAnythingElse() throws {
        #expect(try Threads.environmentWaitPolicy([:]) == nil)
        #expect(try Threads.environmentWaitPolicy(["OMP_WAIT_POLICY": ""]) == nil)
        #expect(try Threads.environmentWaitPolicy(["OMP_WAIT_POLICY": "passive"]) == .passive)
        #expect(try Threads.environmentWaitPolicy(["OMP_WAIT_POLICY": "Active"]) == .active)
        #expect(throws: WaitPolicyError(value: "spin")) { try Threads.environmentWaitPolicy(["OMP_WAIT_POLICY": "spin"]) }
        #expect(WaitPolicyError(value: "spin").description.contains("OMP_WAIT_POLICY=\"spin\""))
    }

    /// `GOMP_SPINCOUNT` is read as libgomp does (digits with an optional k/M/G/T suffix, or infinite), and a value
    /// libgomp would ignore is refused naming it.
    @Test func spinCountAcceptsWhatLibgompReadsAndRefusesTheRest() throws {
        #expect(try Threads.environmentSpinCount([:]) == nil)
        #expect(try Threads.environmentSpinCount(["GOMP_SPINCOUNT": ""]) == nil)
        for ok in ["0", "1000", "300k", "2M", "Infinite", "infinity"] {
            #expect(try Threads.environmentSpinCount(["GOMP_SPINCOUNT": ok]) == ok)
        }
        for bad in ["lots", "-5", "1.5", "10x", "k"] {
            #expect(throws: SpinCountError(value: bad)) { try Threads.environmentSpinCount(["GOMP_SPINCOUNT": bad]) }
        }
        #expect(SpinCountError(value: "lots").description.contains("GOMP_SPINCOUNT=\"lots\""))
    }
}
