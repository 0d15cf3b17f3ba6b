public import Eventbase
import HTTPTypes
public import Hummingbird
public import Logging
import NIOCore
import ServiceLifecycle

/// The to-do server: the HTTP JSON API, the live feed and the page, over one Eventbase instance.
///
/// | route | does |
/// |---|---|
/// | `GET /` | the page |
/// | `GET /api/todos` | every item, oldest first |
/// | `POST /api/todos` `{"title"}` | adds an item (201) |
/// | `PATCH /api/todos/:id` `{"title"?, "done"?}` | changes an item (404 when missing) |
/// | `DELETE /api/todos/:id` | deletes an item (204, 404 when missing) |
/// | `GET /api/todos/events` | server-sent events: `snapshot` (every item), then one `change` per change |
/// | `GET /api/health` | the instance's ``EventbaseHealth`` |
///
/// Every write answers with the header `Eventbase-Revision`: its revision in the stream. A request
/// that carries that header (to this server or any other on the stream) is answered once this
/// server's replica has applied that revision, so a client that writes through one server and reads
/// through another always sees its write. `POST` takes an `Idempotency-Key` header: a retried
/// request adds the item once.
public enum TodoApplication {
    /// The header that carries a write's revision to the client and back.
    public static let revisionHeader = HTTPField.Name("Eventbase-Revision")!
    /// The header that makes a `POST` safe to retry.
    public static let idempotencyHeader = HTTPField.Name("Idempotency-Key")!

    /// Makes the application.
    /// - Parameters:
    ///   - eventbase: Where the items are stored (open; the caller runs and closes it).
    ///   - host: The address to listen on.
    ///   - port: The port (0 for any free one).
    ///   - logger: Where the server logs.
    ///   - onServerRunning: Called with the bound port once the server listens.
    public static func make(
        eventbase: Eventbase,
        host: String = "127.0.0.1",
        port: Int,
        logger: Logger,
        onServerRunning: @escaping @Sendable (_ port: Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: router(TodoStore(eventbase: eventbase)),
            configuration: .init(address: .hostname(host, port: port), serverName: "eventbase-todo"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }

    static func router(_ todos: TodoStore) -> Router<BasicRequestContext> {
        let router = Router()
        router.middlewares.add(ErrorMapping())
        router.get("/") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: TodoPage.html)))
        }
        router.get("/api/todos") { request, _ in
            TodoApplication.json(.array(try await todos.list(consistency: try consistency(of: request))))
        }
        router.post("/api/todos") { request, context in
            let (item, revision) = try await todos.add(
                try await TodoApplication.body(of: request, context),
                idempotencyKey: request.headers[TodoApplication.idempotencyHeader])
            return TodoApplication.json(item, status: .created, revision: revision)
        }
        router.patch("/api/todos/:id") { request, context in
            let id = try context.parameters.require("id")
            guard
                let (item, revision) = try await todos.update(
                    id, try await TodoApplication.body(of: request, context), consistency: try consistency(of: request))
            else {
                throw HTTPError(.notFound, message: "No to-do \(id).")
            }
            return TodoApplication.json(item, revision: revision)
        }
        router.delete("/api/todos/:id") { request, context in
            let id = try context.parameters.require("id")
            guard let revision = try await todos.delete(id, consistency: try consistency(of: request)) else {
                throw HTTPError(.notFound, message: "No to-do \(id).")
            }
            var response = Response(status: .noContent)
            response.headers[TodoApplication.revisionHeader] = String(revision)
            return response
        }
        router.get("/api/todos/events") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                body: ResponseBody { writer in
                    try await LiveFeed.stream(todos.eventbase, to: &writer)
                    try await writer.finish(nil)
                })
        }
        router.get("/api/health") { _, _ in
            let health = await todos.eventbase.health()
            return TodoApplication.json([
                "healthy": .bool(health.isHealthy),
                "appliedSequence": .number(Double(health.appliedSequence)),
                "streamLastSequence": health.streamLastSequence.map { .number(Double($0)) } ?? .null,
                "lag": health.lag.map { .number(Double($0)) } ?? .null,
                "invalidEntryCount": .number(Double(health.invalidEntryCount)),
                "connection": health.connection.map { .string($0.state.description) } ?? .null,
            ])
        }
        return router
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, revision: UInt64? = nil) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let revision { headers[revisionHeader] = String(revision) }
        return Response(
            status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: value.jsonBytes())))
    }

    /// `.atLeast` the request's `Eventbase-Revision`, or `.local` without one.
    static func consistency(of request: Request) throws -> Consistency {
        guard let text = request.headers[revisionHeader] else { return .local }
        guard let revision = UInt64(text) else {
            throw HTTPError(.badRequest, message: "Eventbase-Revision must be a revision number.")
        }
        return .atLeast(revision)
    }

    static func body(of request: Request, _ context: BasicRequestContext) async throws -> JSONValue {
        let buffer = try await request.body.collect(upTo: 64 * 1024)
        do {
            return try JSONValue(jsonString: String(buffer: buffer))
        } catch {
            throw HTTPError(.badRequest, message: "The body is not valid JSON.")
        }
    }
}

/// Answers input and Eventbase errors with a status and a JSON message.
struct ErrorMapping: RouterMiddleware {
    func handle(
        _ request: Request, context: BasicRequestContext,
        next: (Request, BasicRequestContext) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as TodoInputError {
            return TodoApplication.json(["error": .string(error.message)], status: .badRequest)
        } catch let error as EventbaseError {
            let status: HTTPResponse.Status =
                switch error.code {
                case .invalidKey, .invalidArgument, .invalidJSON: .badRequest
                case .conflict: .conflict
                case .timeout, .unavailable, .closed: .serviceUnavailable
                default: .internalServerError
                }
            return TodoApplication.json(["error": .string(error.message)], status: status)
        }
    }
}
