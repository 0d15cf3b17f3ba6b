// Many streams: one instance per stream (for example per tenant), opened on demand, closed when idle.
import Eventbase

// snippet.show
// On NATS, with snapshots under ./data/<stream> and a stats stream per stream.
let manager = EventbaseManager(
    nats: NATSOptions(servers: ["nats://127.0.0.1:4222"]),
    dbPath: "./data",
    keepAlive: .seconds(3600),  // close a stream after an hour without use (and no subscriptions)
    cleanupInterval: .seconds(60),  // look for idle streams every minute
    statsStreamName: { "\($0)_stats" })

// With any backend: the factory returns a builder for each stream name.
let local = EventbaseManager(keepAlive: .seconds(60), cleanupInterval: .seconds(10)) { name in
    Eventbase.builder(streamName: name).inMemory()
}

// run() sweeps idle streams every cleanupInterval until closeAll() (EventbaseManagerService runs
// it in a service group).
let sweeping = Task { await local.run() }
let events = Task {
    for await event in local.events {
        switch event {
        case .opened(let name): print("opened", name)
        case .closed(let name): print("closed", name)
        }
    }
}

let tenantA = try await local.stream("tenant-a")  // opened now
let again = try await local.stream("tenant-a")  // the same instance while it is open
try await tenantA.put("user1", ["name": "Ann"])
print(tenantA === again, local.openStreams)

await local.closeAll()  // run() returns
await sweeping.value
await manager.closeAll()
events.cancel()
