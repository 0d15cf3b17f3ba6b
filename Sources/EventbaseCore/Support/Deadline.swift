/// Runs `operation`, failing with `.timeout` if it does not finish within `timeout` on `clock`.
///
/// The operation is cancelled when the deadline passes; it must honour cancellation.
package func withDeadline<T: Sendable>(
    _ timeout: Duration,
    clock: any Clock<Duration>,
    _ what: @autoclosure () -> String,
    operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let description = what()
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await clock.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else {
            throw EventbaseError(.internalError, "A deadline task group finished empty.")
        }
        guard let value = first else {
            throw EventbaseError(
                .timeout, "\(description) did not finish within \(timeout); check the server, then retry.")
        }
        return value
    }
}

extension Clock where Duration == Swift.Duration {
    /// Sleeps for `duration` on this clock.
    package func sleep(for duration: Duration) async throws {
        try await sleep(until: now.advanced(by: duration), tolerance: nil)
    }
}

/// Time elapsed on a clock since this value was made, as a `Duration` (so deadlines can be kept
/// and compared without knowing the clock's instant type).
package struct ElapsedClock: Sendable {
    private let reading: @Sendable () -> Duration

    package init<C: Clock>(_ clock: C) where C.Duration == Duration {
        let start = clock.now
        reading = { start.duration(to: clock.now) }
    }

    package init(_ clock: any Clock<Duration>) {
        self.init(opening: clock)
    }

    private init<C: Clock>(opening clock: C) where C.Duration == Duration {
        let start = clock.now
        reading = { start.duration(to: clock.now) }
    }

    /// The time elapsed since this value was made.
    package func now() -> Duration { reading() }
}
