import EventbaseCore
package import NIOCore
import NIOSSL

/// The I/O side of one NATS connection: decodes what the server sends, handshakes, then forwards it
/// to the ``NATSTransport`` and answers server PINGs. Runs on its channel's event loop only.
///
/// It decodes the bytes itself (with a ``NATSDecoder``) instead of behind a `ByteToMessageHandler`,
/// so that no operation is boxed into an `NIOAny` and cast back on its way here: with one message per
/// operation, that boxing was the largest cost of draining a stream.
package final class NATSChannelHandler: ChannelInboundHandler {
    package typealias InboundIn = ByteBuffer
    package typealias OutboundOut = ByteBuffer

    private enum State {
        case waitingForInfo
        case waitingForPong(NATSServerInfo)
        case connected
        case done
    }

    private let transport: NATSTransport
    private let server: NATSServerAddress
    private let setup: NATSConnectionSetup
    private let handshake: EventLoopPromise<NATSServerInfo>
    private var state = State.waitingForInfo
    private var decoder = NATSDecoder()
    /// Bytes received and not decoded yet (the start of a frame still arriving).
    private var unread: ByteBuffer?
    private var handshakeTimeout: Scheduled<Void>?
    private var pingTask: RepeatedTask?
    /// Messages decoded in the current read, handed to the transport together when the read completes
    /// (or before any other operation, so the order of everything the server sent is kept).
    private var pendingMessages: [NATSInboundMessage] = []
    /// How many messages are handed over at most in one go, so the consumer starts on a long read early.
    static let maxPendingMessages = 256

    package init(
        transport: NATSTransport,
        server: NATSServerAddress,
        setup: NATSConnectionSetup,
        handshake: EventLoopPromise<NATSServerInfo>
    ) {
        self.transport = transport
        self.server = server
        self.setup = setup
        self.handshake = handshake
    }

    package func channelActive(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        handshakeTimeout = context.eventLoop.scheduleTask(in: TimeAmount(setup.connectTimeout)) {
            let (handler, context) = loopBound.value
            handler.fail(
                context: context,
                EventbaseError(.timeout, "The NATS server at \(handler.server) did not complete the handshake in time.")
            )
        }
        context.fireChannelActive()
    }

    package func channelInactive(context: ChannelHandlerContext) {
        deliverPendingMessages()
        handshakeTimeout?.cancel()
        pingTask?.cancel()
        if case .connected = state {
        } else {
            handshake.fail(
                EventbaseError(.unavailable, "The NATS server at \(server) closed the connection during the handshake.")
            )
        }
        state = .done
        context.fireChannelInactive()
    }

    package func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, case .connected = state {
            transport.writeOutbound(on: context.channel)
        }
        context.fireChannelWritabilityChanged()
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let mapped: EventbaseError
        if let error = error as? EventbaseError {
            mapped = error
        } else if error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError {
            mapped = EventbaseError(
                .unavailable, "The TLS handshake with \(server) failed. Check the CA and certificates.", cause: error)
        } else {
            mapped = EventbaseError(.unavailable, "The connection to \(server) failed.", cause: error)
        }
        fail(context: context, mapped)
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if var buffered = unread, buffered.readableBytes > 0 {
            unread = nil  // One owner while appending, so the bytes are not copied on write.
            buffered.writeBuffer(&bytes)
            bytes = buffered
        }
        do {
            while !isDone, let op = try decoder.decode(buffer: &bytes) {
                handle(op, context: context)
            }
        } catch {
            errorCaught(context: context, error: error)
            return
        }
        guard !isDone, bytes.readableBytes > 0 else {
            unread = nil
            return
        }
        // Keep only the unread tail (a partial frame); drop the bytes before it once they are many.
        if bytes.readerIndex > 64 * 1024 { bytes.discardReadBytes() }
        unread = bytes
    }

    private var isDone: Bool {
        if case .done = state { return true }
        return false
    }

    private func handleConnected(_ op: NATSServerOp, context: ChannelHandlerContext) {
        if case .message(let message) = op {
            pendingMessages.append(message)
            if pendingMessages.count >= Self.maxPendingMessages { deliverPendingMessages() }
            return
        }
        deliverPendingMessages()
        switch op {
        case .message: break
        case .ping: writePong(context: context)
        case .pong: transport.pongReceived()
        case .error(let text): transport.serverError(text, channel: context.channel)
        case .info(let info): transport.receivedInfo(info)
        case .ok: break
        }
    }

    private func handle(_ op: NATSServerOp, context: ChannelHandlerContext) {
        switch state {
        case .waitingForInfo:
            guard case .info(let info) = op else {
                fail(
                    context: context,
                    EventbaseError(
                        .protocolError, "The server at \(server) did not start with INFO; is it a NATS server?"))
                return
            }
            transport.receivedInfo(info)
            do {
                try startTLSIfNeeded(context: context, info: info)
                let connect = try setup.connectInfo(info: info, server: server)
                var buffer = context.channel.allocator.buffer(capacity: 256)
                try NATSClientOp.connect(connect).encode(into: &buffer)
                try NATSClientOp.ping.encode(into: &buffer)
                context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
                state = .waitingForPong(info)
            } catch {
                fail(
                    context: context,
                    error as? EventbaseError ?? EventbaseError(.internalError, "Could not send CONNECT.", cause: error))
            }
        case .waitingForPong(let info):
            switch op {
            case .pong:
                handshakeTimeout?.cancel()
                state = .connected
                transport.handshakeCompleted(channel: context.channel, info: info, server: server)
                startPings(context: context)
                handshake.succeed(info)
            case .error(let text):
                fail(context: context, NATSClientStateMachine.classify(text))
            case .ping:
                writePong(context: context)
            case .info(let newInfo):
                transport.receivedInfo(newInfo)
                state = .waitingForPong(newInfo)
            case .message, .ok:
                break
            }
        case .connected:
            handleConnected(op, context: context)
        case .done:
            break
        }
    }

    package func channelReadComplete(context: ChannelHandlerContext) {
        deliverPendingMessages()
        context.fireChannelReadComplete()
    }

    private func deliverPendingMessages() {
        guard !pendingMessages.isEmpty else { return }
        transport.received(pendingMessages)
        pendingMessages.removeAll(keepingCapacity: true)
    }

    private func writePong(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 8)
        buffer.writeString("PONG\r\n")
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    private func startTLSIfNeeded(context: ChannelHandlerContext, info: NATSServerInfo) throws {
        guard !setup.tlsFirst else { return }
        let wanted = server.tlsRequired || setup.tls?.required == true
        guard info.tlsRequired == true || wanted else { return }
        if wanted, info.tlsRequired != true, info.tlsAvailable != true {
            throw EventbaseError(.unavailable, "TLS is required but the NATS server at \(server) does not offer it.")
        }
        let handler = try setup.makeTLSHandler(server: server)
        try context.pipeline.syncOperations.addHandler(handler, position: .first)
    }

    private func startPings(context: ChannelHandlerContext) {
        let interval = TimeAmount(setup.pingInterval)
        let channel = context.channel
        let transport = self.transport
        pingTask = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            transport.pingTimerFired(channel)
        }
    }

    private func fail(context: ChannelHandlerContext, _ error: EventbaseError) {
        deliverPendingMessages()
        handshakeTimeout?.cancel()
        if case .connected = state {
            transport.connectionFailed(error, channel: context.channel)
        } else {
            handshake.fail(error)
        }
        state = .done
        context.close(promise: nil)
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
