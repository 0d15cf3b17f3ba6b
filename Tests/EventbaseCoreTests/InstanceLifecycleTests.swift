import Foundation
import Testing

@testable import EventbaseCore

/// The instance lifecycle's transitions, without an instance: waiters are numbers here.
@Suite struct InstanceLifecycleTests {
    private let start = Date(timeIntervalSince1970: 1_000)

    @Test func writesAreCountedAndRefusedOnceDrainingBegins() {
        var lifecycle = InstanceLifecycle<Int>(lastAccessed: start)
        let result1 = lifecycle.beginWrite(at: start.addingTimeInterval(1))
        #expect(result1)
        let result2 = lifecycle.beginWrite(at: start.addingTimeInterval(2))
        #expect(result2)
        #expect(lifecycle.writesInFlight == 2)
        #expect(lifecycle.lastAccessed == start.addingTimeInterval(2))
        let result3 = lifecycle.endWrite()
        #expect(result3.isEmpty)
        let result4 = lifecycle.startDraining(1)
        #expect(result4 == .wait)
        let result5 = lifecycle.startDraining(2)
        #expect(result5 == .wait)
        // New writes are refused while draining; reads are not.
        let result6 = lifecycle.beginWrite(at: start)
        #expect(!result6)
        let result7 = lifecycle.beginRead(at: start)
        #expect(result7)
        #expect(!lifecycle.isClosed)
        // The last write in flight ends: the drain's waiters are handed back.
        let result8 = lifecycle.endWrite()
        #expect(result8 == [1, 2])
        let result9 = lifecycle.startDraining(3)
        #expect(result9 == .close)
        // Closing: this caller shuts down; reads are refused from now on.
        guard case .shutDown(let drained) = lifecycle.close(4) else {
            Issue.record("the first close must shut down")
            return
        }
        #expect(drained.isEmpty)
        #expect(lifecycle.isClosed)
        let result10 = lifecycle.beginRead(at: start)
        #expect(!result10)
        let result11 = lifecycle.closed()
        #expect(result11.isEmpty)
    }

    @Test func closingWhileDrainingReleasesTheDrainAndLaterClosesWaitOrAreDone() {
        var lifecycle = InstanceLifecycle<Int>(lastAccessed: start)
        let result12 = lifecycle.beginWrite(at: start)
        #expect(result12)
        let result13 = lifecycle.startDraining(1)
        #expect(result13 == .wait)
        guard case .shutDown(let drained) = lifecycle.close(2) else {
            Issue.record("the first close must shut down")
            return
        }
        #expect(drained == [1])
        guard case .wait = lifecycle.close(3) else {
            Issue.record("a close while closing must wait")
            return
        }
        // A write that ends after the close began wakes nobody.
        let result14 = lifecycle.endWrite()
        #expect(result14.isEmpty)
        let result15 = lifecycle.startDraining(4)
        #expect(result15 == .close)
        let result16 = lifecycle.closed()
        #expect(result16 == [3])
        guard case .done = lifecycle.close(5) else {
            Issue.record("a close after closing is done")
            return
        }
        let result17 = lifecycle.closed()
        #expect(result17.isEmpty)
    }

    @Test func theBackgroundWorkRunsOnceAndOthersWaitForItsEnd() {
        var lifecycle = InstanceLifecycle<Int>(lastAccessed: start)
        #expect(!lifecycle.backgroundRunning)
        guard case .run = lifecycle.run(1) else {
            Issue.record("the first run() runs the work")
            return
        }
        #expect(lifecycle.backgroundRunning)
        guard case .wait(ended: false) = lifecycle.run(2), case .wait = lifecycle.waitForBackground(3) else {
            Issue.record("while it runs, others wait")
            return
        }
        let result18 = lifecycle.backgroundEnded()
        #expect(result18 == [2, 3])
        #expect(!lifecycle.backgroundRunning)
        guard case .wait(ended: true) = lifecycle.run(4), case .done = lifecycle.waitForBackground(5) else {
            Issue.record("once ended, nobody waits")
            return
        }
    }

    @Test func anInstanceThatRunsItsOwnTaskIsWaitedFor() {
        var lifecycle = InstanceLifecycle<Int>(lastAccessed: start)
        lifecycle.startedOwnTask()
        guard case .wait(ended: false) = lifecycle.run(1) else {
            Issue.record("run() waits for the instance's own task")
            return
        }
        let result19 = lifecycle.backgroundEnded()
        #expect(result19 == [1])
    }

    @Test func anInstanceClosedBeforeItsWorkEverRanDoesNotRunIt() {
        var lifecycle = InstanceLifecycle<Int>(lastAccessed: start)
        guard case .shutDown = lifecycle.close(1), case .done = lifecycle.waitForBackground(2),
            case .closed = lifecycle.run(3)
        else {
            Issue.record("nothing runs after the close")
            return
        }
    }

    @Test func lastAccessedNeverMovesBackWhenTouched() {
        var lifecycle = InstanceLifecycle<Int>(lastAccessed: start)
        lifecycle.touch(start.addingTimeInterval(-5))
        #expect(lifecycle.lastAccessed == start)
        lifecycle.touch(start.addingTimeInterval(5))
        #expect(lifecycle.lastAccessed == start.addingTimeInterval(5))
    }
}
