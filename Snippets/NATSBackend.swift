// The production set-up: the log on NATS JetStream, the replica persisted in snapshots.
import Eventbase

// snippet.show
var nats = NATSOptions(
    servers: ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223", "nats://127.0.0.1:4224"],
    user: "eventbase", password: "eventbase")
nats.connectTimeout = .seconds(5)
// With TLS: nats.tls = NATSTLSOptions(caFile: "ca.pem")
// Or a token, an nkey seed, or a .creds file: NATSOptions(servers:token:), (nkeySeed:), (credentialsFile:)

let eventbase = try await Eventbase.builder(streamName: "myapp")
    .nats(nats, stream: JetStreamStreamOptions(replicas: 3))  // replicas 3 on a 3-node cluster
    .statsStreamName("myapp_stats")  // optional: operation stats, as eventbase v3 publishes them
    .fileStore(path: "./data")  // optional: restart from a snapshot instead of replaying the stream
    .configure { options in
        options.writeTimeout = .seconds(10)  // a write that is not applied by then fails with .timeout
    }
    .onMessage { entry in
        print("applied", entry.sequence)  // every event this instance applies, in log order
    }
    .build()

do {
    try await eventbase.put("user1", ["name": "Ann"])
} catch let error as EventbaseError where error.code == .timeout || error.code == .unavailable {
    print("The server is not answering: \(error.message)")
}
await eventbase.close()
