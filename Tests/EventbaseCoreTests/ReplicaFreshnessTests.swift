import Foundation
import Testing

@testable import EventbaseCore

@Suite struct ReplicaFreshnessTests {
    private func batch(_ sequences: [UInt64], position: UInt64? = nil) -> LogBatch {
        let entries = sequences.map {
            LogEntry(
                sequence: $0, time: Date(timeIntervalSince1970: 0), event: Event(kind: .delete, key: "k", timestamp: 0))
        }
        return LogBatch(entries: entries, position: position ?? sequences.last ?? 0)
    }

    @Test func withoutARetentionNothingIsEverStale() {
        let freshness = ReplicaFreshness(retention: nil, caughtUpAt: .zero)
        #expect(freshness.probePeriod == nil)
        #expect(!freshness.mustResync(before: batch([100]), applied: 1, now: .seconds(1_000_000)))
    }

    @Test func aGapIsRefusedOnlyOnceTheReplicaHasNotKnownItWasCaughtUpForLongerThanTheLimit() {
        let freshness = ReplicaFreshness(retention: .seconds(100), caughtUpAt: .zero)
        #expect(freshness.limit == .seconds(90))
        #expect(freshness.probePeriod == .milliseconds(22_500))
        // Within the limit: gaps are purged puts, nothing to fear.
        #expect(!freshness.mustResync(before: batch([5]), applied: 2, now: .seconds(90)))
        // Past it, a batch that follows on from what was applied skips nothing...
        #expect(!freshness.mustResync(before: batch([3, 7]), applied: 2, now: .seconds(91)))
        #expect(!freshness.mustResync(before: batch([], position: 2), applied: 2, now: .seconds(91)))
        // ...but one that skips sequences (entries, or only the position) may skip a compacted delete.
        #expect(freshness.mustResync(before: batch([], position: 4), applied: 2, now: .seconds(91)))
        // Refused once, every batch is refused until the replica rebuilt.
        #expect(freshness.resyncNeeded)
        #expect(freshness.mustResync(before: batch([3]), applied: 2, now: .seconds(91)))
        freshness.resynced(at: .seconds(91))
        #expect(!freshness.resyncNeeded)
        #expect(!freshness.mustResync(before: batch([5]), applied: 0, now: .seconds(181)))
        #expect(freshness.mustResync(before: batch([5]), applied: 0, now: .seconds(182)))
    }

    @Test func probesThatTheReplicaReachesKeepItFresh() {
        let freshness = ReplicaFreshness(retention: .seconds(100), caughtUpAt: .zero)
        // Caught up when probed: fresh from when the probe began.
        freshness.probed(target: 10, started: .seconds(50), applied: 10)
        #expect(!freshness.mustResync(before: batch([20]), applied: 10, now: .seconds(140)))
        // Behind when probed: fresh from that probe only once the replica has reached its target,
        // as a later probe finds.
        freshness.probed(target: 30, started: .seconds(100), applied: 20)
        freshness.probed(target: 40, started: .seconds(120), applied: 25)
        #expect(freshness.mustResync(before: batch([27]), applied: 25, now: .seconds(141)))
        freshness.resynced(at: .zero)
        freshness.probed(target: 30, started: .seconds(100), applied: 20)
        freshness.probed(target: 40, started: .seconds(120), applied: 30)
        #expect(!freshness.mustResync(before: batch([35]), applied: 30, now: .seconds(190)))
        #expect(freshness.mustResync(before: batch([35]), applied: 30, now: .seconds(191)))
    }
}
