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
public enum TodoApplication {
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
        router.get("/api/todos") { _, _ in
            TodoApplication.json(.array(try await todos.list()))
        }
        router.post("/api/todos") { request, context in
            TodoApplication.json(
                try await todos.add(try await TodoApplication.body(of: request, context)), status: .created)
        }
        router.patch("/api/todos/:id") { request, context in
            let id = try context.parameters.require("id")
            guard let updated = try await todos.update(id, try await TodoApplication.body(of: request, context)) else {
                throw HTTPError(.notFound, message: "No to-do \(id).")
            }
            return TodoApplication.json(updated)
        }
        router.delete("/api/todos/:id") { _, context in
            let id = try context.parameters.require("id")
            guard try await todos.delete(id) else { throw HTTPError(.notFound, message: "No to-do \(id).") }
            return Response(status: .noContent)
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

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: value.jsonBytes())))
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
