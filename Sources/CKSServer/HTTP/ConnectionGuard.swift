import CKSDomain
import CKSWire
import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes
#if canImport(Glibc)
import Glibc
#endif

/// Limits that keep slow, idle or numerous clients from tying the core up (issue 7, exposure).
///
/// - A connection with no request under way is closed after `idleTimeout` (Hummingbird's idle handler; a client
///   dribbling a request head counts as idle, since no part of the request has been decoded yet).
/// - A request's body must arrive in full within `idleTimeout` of its head: a client dribbling a body a byte at a
///   time gets a 408 and the connection closes (`ConnectionGuardHandler`).
/// - At most `maxConnections` are open at once; further clients wait in the listen backlog until one closes.
public struct ConnectionLimits: Sendable, Hashable {
    /// nil: never close idle connections (not advised for a core others can reach).
    public var idleTimeout: Duration?
    public var maxConnections: Int

    public init(idleTimeout: Duration? = .seconds(60), maxConnections: Int = 1024) {
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
    }

    /// File descriptors the process keeps for itself beyond the connections (SQLite, logs, the listener, pipes).
    static let reservedDescriptors = 128

    /// Raises the soft open-files limit towards the hard one so `maxConnections` fit, and returns the cap that
    /// really fits (lower than asked when the hard limit is too low), so accepting can never fail with EMFILE.
    static func fitDescriptorLimit(_ wanted: Int) -> (cap: Int, softLimit: Int) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (wanted, -1) }
        let infinity = rlim_t.max  // RLIM_INFINITY, which Swift imports as a literal it cannot fit
        let needed = rlim_t(wanted + reservedDescriptors)
        if limit.rlim_cur != infinity, limit.rlim_cur < needed {
            var raised = limit
            raised.rlim_cur = limit.rlim_max == infinity ? needed : min(needed, limit.rlim_max)
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        if limit.rlim_cur == infinity { return (wanted, Int.max) }
        let soft = Int(clamping: limit.rlim_cur)
        return (max(1, min(wanted, soft - reservedDescriptors)), soft)
    }
}

/// Per connection: a request whose body has not fully arrived within `timeout` of its head is answered 408
/// (an AWS-style JSON error) and the connection closed; any response marked `Connection: close` closes the
/// connection once written, instead of Hummingbird draining the rest of an oversized or abandoned body.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let timeout: TimeAmount?
    private var bodyDeadline: Scheduled<Void>?
    private var responseStarted = false
    private var closeAfterResponse = false

    init(timeout: Duration?) {
        self.timeout = timeout.map { TimeAmount.nanoseconds(Int64($0.components.seconds) * 1_000_000_000
            + $0.components.attoseconds / 1_000_000_000) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            responseStarted = false
            arm(context)
        case .end:
            disarm()
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            responseStarted = true
            if head.headerFields[.connection]?.lowercased().contains("close") == true { closeAfterResponse = true }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            disarm()
            guard closeAfterResponse else {
                context.write(data, promise: promise)
                return
            }
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.cascade(to: promise)
            context.writeAndFlush(data, promise: written)
            let channel = context.channel
            written.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

    private func arm(_ context: ChannelHandlerContext) {
        disarm()
        guard let timeout else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        bodyDeadline = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = loopBound.value
            handler.bodyTimedOut(context)
        }
    }

    private func disarm() {
        bodyDeadline?.cancel()
        bodyDeadline = nil
    }

    private func bodyTimedOut(_ context: ChannelHandlerContext) {
        bodyDeadline = nil
        guard context.channel.isActive else { return }
        guard !responseStarted else {
            context.close(promise: nil)
            return
        }
        responseStarted = true
        let body = WireCodec.encodeError(KMSError(.serialization,
            "The request body did not arrive in time; the connection is closed."))
        var fields = HTTPFields()
        fields[.contentType] = WireCodec.contentType
        fields[.contentLength] = String(body.count)
        fields[.connection] = "close"
        context.write(wrapOutboundOut(.head(HTTPResponse(status: .requestTimeout, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(bytes: body))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
