import EventbaseCore

/// What `$JS.API.CONSUMER.CREATE` and `INFO` say about a consumer (the fields the reader uses).
struct JetStreamConsumerInfo: Sendable, Hashable {
    /// The consumer's name.
    var name: String
    /// How many messages are left to deliver.
    var pending: UInt64
    /// The last consumer sequence delivered.
    var deliveredConsumerSequence: UInt64
    /// The last stream sequence delivered (or passed over).
    var deliveredStreamSequence: UInt64

    init(json: JSONValue) {
        name = json["name"]?.stringValue ?? ""
        pending = UInt64(json: json["num_pending"])
        deliveredConsumerSequence = UInt64(json: json["delivered"]?["consumer_seq"])
        deliveredStreamSequence = UInt64(json: json["delivered"]?["stream_seq"])
    }
}

extension JetStreamContext {
    /// Creates an ephemeral, unacknowledged push consumer that delivers the whole stream from
    /// `start` to `deliverSubject`, with flow control and idle heartbeats: the building block of
    /// an ordered consumer.
    func createOrderedConsumer(
        stream: String, start: UInt64, deliverSubject: String, idleHeartbeat: Duration
    ) async throws -> JetStreamConsumerInfo {
        var config = JSONObject()
        config["deliver_subject"] = .string(deliverSubject)
        config["deliver_policy"] = "by_start_sequence"
        config["opt_start_seq"] = .number(Double(max(1, start)))
        config["ack_policy"] = "none"
        config["replay_policy"] = "instant"
        config["max_deliver"] = 1
        config["flow_control"] = true
        config["idle_heartbeat"] = .number(Double(JetStreamStreamConfig.nanoseconds(idleHeartbeat)))
        config["inactive_threshold"] = .number(Double(JetStreamStreamConfig.nanoseconds(.seconds(5))))
        config["mem_storage"] = true
        config["num_replicas"] = 1
        let body: JSONValue = ["stream_name": .string(stream), "config": .object(config)]
        let json = try await api(
            "CONSUMER.CREATE." + stream, body, operation: "Creating a consumer of stream \(stream)")
        return JetStreamConsumerInfo(json: json)
    }

    /// Deletes a consumer.
    func deleteConsumer(stream: String, name: String) async throws {
        _ = try await api(
            "CONSUMER.DELETE.\(stream).\(name)", nil, operation: "Deleting consumer \(name) of stream \(stream)")
    }
}
