import EventbaseCore
import EventbaseNATS
import EventbaseTestKit
import Foundation
import Testing

/// Servers learned from the cluster (INFO `connect_urls`) on a real 3-node cluster.
@Suite(.enabled(if: NATSServerFixture.isAvailable), .serialized, .timeLimit(.minutes(2)))
struct NATSClusterDiscoveryTests {
    private func options(_ servers: [String], discover: Bool) -> NATSOptions {
        var options = NATSOptions(servers: servers)
        options.discoverServers = discover
        options.reconnectBackoffBase = .milliseconds(20)
        options.reconnectBackoffMax = .milliseconds(200)
        options.connectTimeout = .seconds(1)
        return options
    }

    @Test func aClientGivenOneNodeReconnectsToANodeItLearnedFromTheCluster() async throws {
        try await withNATSCluster { cluster in
            let others = cluster.nodes.dropFirst().map { ":\($0.port)" }
            try await withTransport(options([cluster.urls[0]], discover: true)) { transport in
                let events = transport.connectionEvents()
                let subscription = try await transport.subscribe("discovery.>")
                await cluster.nodes[0].crash()
                let event = try await first(events, timeout: .seconds(30)) { event in
                    if case .reconnected = event { true } else { false }
                }
                guard case .reconnected(let server) = event else { return }
                #expect(others.contains { server.hasSuffix($0) }, "reconnected to \(server)")
                // The connection works, and the subscription was re-established on the new node.
                try await transport.publish("discovery.a", payload: Array("after".utf8))
                let message = try await first(subscription, timeout: .seconds(10))
                #expect(message.payload == Array("after".utf8))
            }
        }
    }

    @Test func withoutDiscoveryTheClientKeepsToItsConfiguredServers() async throws {
        try await withNATSCluster { cluster in
            var options = options([cluster.urls[0]], discover: false)
            options.maxReconnectAttempts = 3
            try await withTransport(options) { transport in
                let events = transport.connectionEvents()
                await cluster.nodes[0].crash()
                // Only the dead node to try: it gives up instead of moving to a node it was not given.
                let event = try await first(events, timeout: .seconds(30)) { event in
                    switch event {
                    case .reconnected, .closed: true
                    default: false
                    }
                }
                guard case .closed = event else {
                    Issue.record("expected the transport to give up, got \(event)")
                    return
                }
            }
        }
    }
}
