// Live queries: be told when a record enters, changes within, or leaves a query.
import Eventbase

// snippet.hide
let eventbase = try await Eventbase.builder(streamName: "live").inMemory().build()
// snippet.show
// A closure subscription, cancelled by its Subscription.
let subscription = try await eventbase.subscribe(["age": ["$gte": 18]]) { key, data, meta, change in
    switch change.kind {
    case .entered: print("\(key) now matches: \(data?.jsonString() ?? "")")
    case .updated: print("\(key) changed, still matches (revision \(meta?.revision ?? 0))")
    case .left: print("\(key) no longer matches (was \(change.oldData?.jsonString() ?? ""))")
    }
}

// The same as an AsyncSequence: iteration ends when its task is cancelled or the instance closes.
let changes = eventbase.changes(matching: ["room": "lobby"])
let watcher = Task {
    for try await change in changes {
        print(change.kind, change.key, change.entry.sequence)
    }
}

// A live query: the records that match now, then .caughtUp, then every change, nothing missed.
let lobby = Task {
    var members: Set<String> = []
    for try await event in eventbase.liveQuery(["room": "lobby"]) {
        switch event {
        case .existing(let record): members.insert(record.key)
        case .caughtUp: print("in the lobby:", members)
        case .change(let change) where change.kind == .left: members.remove(change.key)
        case .change(let change): members.insert(change.key)
        }
    }
}

try await eventbase.put("ann", ["age": 31, "room": "lobby"])  // ann enters both queries
try await eventbase.put("ann", ["age": 12, "room": "lobby"])  // ann leaves the adults
try await eventbase.delete("ann")  // ann leaves the lobby

subscription.cancel()
watcher.cancel()
lobby.cancel()
// snippet.hide
await eventbase.close()
