import EventbaseCore
package import EventbaseNATS
import NIOCore
import NIOEmbedded
import Testing

@Suite struct NATSClientStateMachineTests {
    private func connectedMachine(
        limits: NATSClientStateMachine.Limits = .init(),
        channel: EmbeddedChannel = EmbeddedChannel()
    ) -> NATSClientStateMachine {
        var machine = NATSClientStateMachine(limits: limits)
        _ = machine.connectRequested()
        let attached = machine.attach(channel)
        let action = machine.connected(channel: channel, info: NATSServerInfo(maxPayload: 1024), server: "s")
        #expect(attached)
        #expect(action != nil)
        return machine
    }

    private func stream() -> TransportMessageBuffer {
        TransportMessageBuffer(limit: 16)
    }

    @Test func subscriptionsMadeWhileConnectingAreSentOnConnectBeforeBufferedPublishes() {
        let channel = EmbeddedChannel()
        var machine = NATSClientStateMachine(limits: .init())
        let connect = machine.connectRequested()
        #expect(connect == .startAndWait)
        let (sid, subscribeAction) = machine.subscribe(subject: "a.>", queue: "q", buffer: stream())
        #expect(subscribeAction == .queued)
        let publish = NATSClientOp.publish(subject: "a.b", replyTo: nil, headers: nil, payload: [1])
        let queued = machine.publish(publish)
        #expect(queued == .queued)
        let attached = machine.attach(channel)
        #expect(attached)
        let action = machine.connected(channel: channel, info: NATSServerInfo(), server: "s")
        #expect(action?.ops == [.subscribe(subject: "a.>", queue: "q", sid: sid), publish])
        #expect(machine.status == .connected)
        #expect(!machine.hasOutbound)
    }

    @Test func aBurstOfPublishesSchedulesOneWrite() {
        let channel = EmbeddedChannel()
        var machine = connectedMachine(channel: channel)
        var scheduled = 0
        for index in 0..<100 {
            let action = machine.publish(.publish(subject: "s", replyTo: nil, headers: nil, payload: [UInt8(index)]))
            if case .scheduleFlush = action { scheduled += 1 }
        }
        #expect(scheduled == 1)
        let (ops, _) = machine.takeOutbound(for: channel)
        #expect(ops.count == 100)
        if case .scheduleFlush = machine.publish(.publish(subject: "s", replyTo: nil, headers: nil, payload: [])) {
        } else {
            Issue.record("a publish after a write schedules the next write")
        }
    }

    @Test func aFullWriteBufferMakesPublishersWait() {
        var machine = connectedMachine(limits: .init(writeBufferLimit: 200))
        let big = NATSClientOp.publish(
            subject: "s", replyTo: nil, headers: nil, payload: Array(repeating: 0, count: 150))
        if case .scheduleFlush = machine.publish(big) {} else { Issue.record("first publish is queued") }
        let second = machine.publish(big)
        #expect(second == .waitForWrite)
    }

    @Test func publishesAboveMaxPayloadFailWithLimitExceeded() {
        var machine = connectedMachine()
        let action = machine.publish(
            .publish(subject: "s", replyTo: nil, headers: nil, payload: Array(repeating: 0, count: 1025)))
        guard case .fail(let error) = action else {
            Issue.record("expected failure, got \(action)")
            return
        }
        #expect(error.code == .limitExceeded)
    }

    @Test func disconnectKeepsPublishesUpToTheReconnectBufferThenRefuses() {
        let channel = EmbeddedChannel()
        var machine = connectedMachine(limits: .init(reconnectBufferSize: 300), channel: channel)
        _ = machine.subscribe(subject: "x", queue: nil, buffer: stream())
        let publish = NATSClientOp.publish(
            subject: "s", replyTo: nil, headers: nil, payload: Array(repeating: 0, count: 100))
        _ = machine.publish(publish)
        let lost = machine.connectionLost(channel)
        #expect(lost?.reconnect == true)
        #expect(machine.status == .reconnecting)
        #expect(machine.outbound == [publish])  // the SUB is dropped: it is re-sent on reconnect
        let buffered = machine.publish(publish)
        #expect(buffered == .queued)
        guard case .fail(let error) = machine.publish(publish) else {
            Issue.record("a publish beyond the reconnect buffer must fail")
            return
        }
        #expect(error.code == .unavailable)
    }

    @Test func unansweredPingsMarkTheConnectionStale() {
        let channel = EmbeddedChannel()
        var machine = connectedMachine(limits: .init(maxOutstandingPings: 2), channel: channel)
        guard case .send = machine.pingTimerFired(channel) else {
            Issue.record(Comment(rawValue: "first ping is sent"))
            return
        }
        guard case .send = machine.pingTimerFired(channel) else {
            Issue.record(Comment(rawValue: "second ping is sent"))
            return
        }
        guard case .staleConnection = machine.pingTimerFired(channel) else {
            Issue.record(Comment(rawValue: "third tick is stale"))
            return
        }
        let lost = machine.connectionLost(channel)
        #expect(lost?.reason?.code == .unavailable)
    }

    @Test func aPongResetsOutstandingPings() {
        let channel = EmbeddedChannel()
        var machine = connectedMachine(limits: .init(maxOutstandingPings: 1), channel: channel)
        guard case .send = machine.pingTimerFired(channel) else {
            Issue.record(Comment(rawValue: "ping is sent"))
            return
        }
        let flush = machine.pongReceived()
        #expect(flush == nil)
        #expect(machine.outstandingPings == 0)
        guard case .send = machine.pingTimerFired(channel) else {
            Issue.record(Comment(rawValue: "ping is sent again"))
            return
        }
    }

    @Test func subscriptionPermissionViolationsEndTheSubscription() {
        var machine = connectedMachine()
        _ = machine.subscribe(subject: "secret.>", queue: nil, buffer: stream())
        _ = machine.subscribe(subject: "public", queue: nil, buffer: stream())
        let action = machine.serverError("Permissions Violation for Subscription to \"secret.>\"")
        #expect(action.error.code == .permissionDenied)
        #expect(action.endedSubscriptions.count == 1)
        #expect(!action.closesConnection)
        #expect(machine.status == .connected)
    }

    @Test(arguments: [
        ("Authorization Violation", "authenticationFailed"),
        ("User Authentication Expired", "authenticationFailed"),
        ("Permissions Violation for Publish to \"x\"", "permissionDenied"),
        ("Maximum Payload Violation", "limitExceeded"),
        ("Stale Connection", "unavailable"),
        ("Slow Consumer", "slowConsumer"),
        ("Something Else", "serverError"),
    ])
    func classifiesServerErrors(text: String, code: String) {
        let error = NATSClientStateMachine.classify(text)
        #expect(error.code.description == code)
        #expect((error.cause as? NATSServerError)?.text == text)
    }

    @Test func closeReleasesEverythingOnce() {
        var machine = connectedMachine()
        _ = machine.subscribe(subject: "a", queue: nil, buffer: stream())
        let action = machine.close()
        #expect(action?.subscriptions.count == 1)
        let again = machine.close()
        #expect(again == nil)
        guard case .fail(let error) = machine.publish(.publish(subject: "s", replyTo: nil, headers: nil, payload: []))
        else {
            Issue.record(Comment(rawValue: "publish after close fails"))
            return
        }
        #expect(error.code == .closed)
    }
}

extension NATSClientStateMachine.EnqueueAction: Equatable {
    package static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.queued, .queued), (.waitForWrite, .waitForWrite): true
        case (.scheduleFlush(let a), .scheduleFlush(let b)): a === b
        case (.fail(let a), .fail(let b)): a.code == b.code
        default: false
        }
    }
}

extension NATSClientStateMachine.ConnectAction: Equatable {
    package static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.alreadyConnected, .alreadyConnected), (.startAndWait, .startAndWait), (.wait, .wait): true
        case (.fail(let a), .fail(let b)): a.code == b.code
        default: false
        }
    }
}
